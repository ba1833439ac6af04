"""The tables: their schemas, the statements run on them, and how a statement
heals a table that has been dropped."""

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

# The batches stored, by the writer (one API process) and its batch number:
# the proof that a batch committed. A batch whose outcome is unknown (the
# connection broke after it was sent) is applied again with the same key: the
# key makes the second application fail if the first committed, on this
# server or, through Galera's certification, on any other. Each batch deletes
# the rows of its writer's batches older than those the writer remembers
# (api/store.py), so a live writer keeps a bounded number of rows.
BATCHES_SCHEMA = """
CREATE TABLE IF NOT EXISTS visit_batches (
    writer  BINARY(16) NOT NULL,
    seq     BIGINT UNSIGNED NOT NULL,
    stored  TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (writer, seq)
) ENGINE=InnoDB
"""

# A batch of N visits (N >= 1) in one transaction with its key, then a read,
# sent as one multi-statement query: one round trip. The row lock is held
# only for the transaction, never across the read. Each visit is wholly in
# exactly one batch. Arguments: writer, seq, writer, the oldest seq whose row
# stays, replica, N, N.
RECORD_BATCH = (
    "START TRANSACTION;"
    " INSERT INTO visit_batches (writer, seq) VALUES (%s, %s);"
    " DELETE FROM visit_batches WHERE writer = %s AND seq < %s;"
    " INSERT INTO visits (replica, count) VALUES (%s, %s)"
    " ON DUPLICATE KEY UPDATE count = count + %s;"
    " COMMIT;"
    " SELECT replica, count FROM visits ORDER BY first_seen, replica"
)

# With one server, a batch of N visits is one atomic statement (autocommit),
# then the read, in one round trip. No key: with one server a batch whose
# outcome is unknown is never applied again (api/store.py), and the key's two
# extra row changes per batch would cost the server CPU for nothing.
# Arguments: replica, N, N.
RECORD_VISITS = (
    "INSERT INTO visits (replica, count) VALUES (%s, %s)"
    " ON DUPLICATE KEY UPDATE count = count + %s;"
    " SELECT replica, count FROM visits ORDER BY first_seen, replica"
)

# A writer's stored batch numbers from one on, as of every write the cluster
# committed before the read (wsrep_sync_wait; a server without Galera ignores
# it). Arguments: writer, seq.
STORED_BATCHES = (
    "SET STATEMENT wsrep_sync_wait = 1 FOR"
    " SELECT seq FROM visit_batches WHERE writer = %s AND seq >= %s"
)

# The documented order: replicas in the order they were first seen, ties
# broken by name, so the list only ever grows at the bottom.
READ_COUNTS = "SELECT replica, count FROM visits ORDER BY first_seen, replica"

# Readiness: both tables are there and this user may use them (no rows fetched).
TABLE_USABLE = "SELECT 1 FROM visits, visit_batches LIMIT 0"

# Rows of writers gone for an hour (a process that stopped, or one that has
# been idle): no batch of theirs can still be in doubt. Keeps the table small.
FORGET_OLD_BATCHES = "DELETE FROM visit_batches WHERE stored < NOW(6) - INTERVAL 1 HOUR"


def execute_healing(
    cursor: pymysql.cursors.Cursor, statement: str, args: tuple[object, ...] | None = None
) -> None:
    """Execute ``statement``; if a table is missing, create it and execute once more.

    Safe for a batch too: the transaction that found no table is rolled back
    before the CREATE (which would commit what it had done so far), so the
    second run is the only one that counts.
    """
    try:
        cursor.execute(statement, args)
        # The error of a later statement in a multi-statement query arrives
        # with its result: read every result, keeping the last.
        while cursor.nextset():
            pass
    except pymysql.err.ProgrammingError as exc:
        if not exc.args or exc.args[0] != ER.NO_SUCH_TABLE:
            raise
        log.warning("a table is missing: creating it again")
        cursor.execute("ROLLBACK")
        cursor.execute(SCHEMA)
        cursor.execute(BATCHES_SCHEMA)
        cursor.execute(statement, args)
        while cursor.nextset():
            pass
