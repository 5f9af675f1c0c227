"""Lab stand-in migration chain tracing."""
