"""The ``visits`` table: its schema, the statements run on it, and how a
statement heals the table when it has been dropped."""

from __future__ import annotations

import logging

import pymysql
from pymysql.constants import ER

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    replica    VARCHAR(253) NOT NULL PRIMARY KEY,
    count      BIGINT UNSIGNED NOT NULL,
    first_seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""

# A batch of N visits (N >= 1) is one atomic statement; with autocommit it
# holds the row lock only for its own duration, never across the read that
# follows. Each visit is wholly in exactly one such statement.
RECORD_VISITS = (
    "INSERT INTO visits (replica, count) VALUES (%s, %s) ON DUPLICATE KEY UPDATE count = count + %s"
)

# The documented order: replicas in the order they were first seen, ties
# broken by name, so the list only ever grows at the bottom.
READ_COUNTS = "SELECT replica, count FROM visits ORDER BY first_seen, replica"

# Readiness: the table is there and this user may read it (no rows fetched).
TABLE_USABLE = "SELECT 1 FROM visits LIMIT 0"


def execute_healing(
    cursor: pymysql.cursors.Cursor, statement: str, args: tuple[object, ...] | None = None
) -> None:
    """Execute ``statement``; if its table is missing, create it and execute once more.

    Safe for a visit's INSERT too: a statement that found no table changed
    nothing, so the second run is the only one that counts.
    """
    try:
        cursor.execute(statement, args)
    except pymysql.err.ProgrammingError as exc:
        if not exc.args or exc.args[0] != ER.NO_SUCH_TABLE:
            raise
        log.warning("the visits table is missing: creating it again")
        cursor.execute(SCHEMA)
        cursor.execute(statement, args)
