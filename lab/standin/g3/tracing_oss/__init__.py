"""Lab stand-in migration chain tracing_oss."""
