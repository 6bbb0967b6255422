"""OmaStack: a whole platform instance (Redis, Postgres, the dashboard, monitoring, backups) kept as declared."""
