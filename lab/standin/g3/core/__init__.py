"""Lab stand-in migration chain core."""
