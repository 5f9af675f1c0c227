"""Lab stand-in for the G2/G3 migrations package (/app/oss/databases/postgres/migrations)."""
