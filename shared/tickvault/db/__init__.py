"""PostgreSQL: typed models, engines, partition maintenance and Alembic migrations."""
