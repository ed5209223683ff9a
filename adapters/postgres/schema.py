"""Schema bootstrap: versioned forward migrations plus the connect-pg-simple session table.

Every open runs ``bootstrap`` in one transaction that first takes transaction-scoped advisory
locks (``pg_advisory_xact_lock``), so any number of processes opening the same empty database at
once serialise: the first creates everything, the rest find the version current and change
nothing. The locks go away with the transaction, so a crashed opener never leaves one behind.

``sql/NNNN_name.sql`` files are the migrations, applied in order with ``search_path`` set to the
sink's schema; ``sinkkit_schema_version`` records which ran. It is not git-proxy's migrations
ledger (``sink_migrations``), which the Sink API reads and writes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from psycopg import Connection, sql
from sinkkit.conformance.errors import ConfigError

log = logging.getLogger("sinkkit.adapters.postgres")

VERSION_TABLE = "sinkkit_schema_version"
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str


@lru_cache(maxsize=1)
def migrations() -> tuple[Migration, ...]:
    found = []
    for item in resources.files("sinkkit.adapters.postgres").joinpath("sql").iterdir():
        m = _MIGRATION_FILE.match(item.name)
        if m:
            found.append(Migration(int(m[1]), m[2], item.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"postgres migrations must be numbered 1..n without gaps: {versions}")
    return tuple(found)


def latest_version() -> int:
    return migrations()[-1].version


def session_table_sql(schema: str, table: str) -> sql.Composed:
    """connect-pg-simple's table.sql (v10), with its table name substituted the way its own
    ``createTableIfMissing`` does: the constraint and index keep their fixed names."""
    target = sql.Identifier(schema, table)
    return sql.SQL(
        'CREATE TABLE IF NOT EXISTS {t} (\n'
        '  "sid" varchar NOT NULL COLLATE "default",\n'
        '  "sess" json NOT NULL,\n'
        '  "expire" timestamp(6) NOT NULL,\n'
        '  CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE\n'
        ');\n'
        'CREATE INDEX IF NOT EXISTS "IDX_session_expire" ON {t} ("expire");'
    ).format(t=target)


def _lock(conn: Connection, *names: str) -> None:
    # sorted, so two openers needing the same pair of locks can never deadlock
    for name in sorted(set(names)):
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"sinkkit:{name}",))


def _ensure_schema(conn: Connection, schema: str) -> None:
    exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        log.info("created schema %r", schema)


def bootstrap(conn: Connection, schema: str, session_schema: str, session_table: str) -> int:
    """Bring ``schema`` to the latest version and make sure the session table exists.

    Returns how many migrations ran (0 when the schema was already current).
    """
    with conn.transaction():
        _lock(conn, f"schema:{schema}", f"session:{session_schema}.{session_table}")
        _ensure_schema(conn, schema)
        if session_schema != schema:
            _ensure_schema(conn, session_schema)
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(sql.Identifier(VERSION_TABLE))
        )
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
                sql.Identifier(VERSION_TABLE))
        ).fetchone()
        current = row[0] if row else 0
        if current > latest_version():
            raise ConfigError(
                f"schema {schema!r} is at version {current}, newer than this adapter's "
                f"{latest_version()}; upgrade sinkkit before opening it"
            )
        applied = 0
        for mig in migrations():
            if mig.version <= current:
                continue
            conn.execute(mig.text)  # trusted text shipped with the package, no values in it
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(
                    sql.Identifier(VERSION_TABLE)),
                (mig.version, mig.name),
            )
            log.info("schema %r: applied migration %04d_%s", schema, mig.version, mig.name)
            applied += 1
        conn.execute(session_table_sql(session_schema, session_table))
    return applied
