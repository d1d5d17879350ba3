"""A read-only login role for the API (``tickvault_api``): SELECT on every table, no writes.

Roles are cluster-wide while grants live in each database, and several databases (test
runs, deployments) may share one cluster: the role is created only when missing (tolerating
a concurrent creator), and the downgrade revokes this database's grants and drops the role
only when nothing in any database still depends on it. The role has no password here; give
it one out of band (``ALTER ROLE tickvault_api PASSWORD ...``) where the server asks for one.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "tickvault_api"


def upgrade() -> None:
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database's migration created it at the same moment
        END
        $$;
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ROLE}', current_database());
        END
        $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ROLE}")


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {ROLE}")
    op.execute(f"REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
    op.execute(
        f"""
        DO $$
        BEGIN
            EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {ROLE}', current_database());
            IF NOT EXISTS (
                SELECT FROM pg_shdepend d JOIN pg_roles r ON d.refobjid = r.oid
                WHERE r.rolname = '{ROLE}' AND d.refclassid = 'pg_authid'::regclass
            ) THEN
                DROP ROLE {ROLE};
            END IF;
        EXCEPTION WHEN dependent_objects_still_exist OR undefined_object THEN
            NULL;  -- another database still grants it something, or it is already gone
        END
        $$;
        """
    )
