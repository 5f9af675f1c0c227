"""Lab stand-in migration chain core_oss."""
