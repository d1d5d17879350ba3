"""Alembic migrations of the tickvault schema (run them with ``tickvault db upgrade``)."""
