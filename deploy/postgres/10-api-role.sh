#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Creates the API's read-only login role WITH a password, so the API can log in over the
# network; migration 0002 finds the role already there and grants it SELECT.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=pw="${API_DB_PASSWORD:?set API_DB_PASSWORD}" <<'SQL'
CREATE ROLE tickvault_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'pw';
SQL
