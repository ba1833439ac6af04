"""Visit storage in MariaDB/MySQL, for an app on an asyncio event loop.

Each worker process has one database connection, used only by one dedicated
thread (api/dedicated_thread.py): the event loop never blocks on the
database, and no other thread touches the connection. The connection is
checked for a server-side close before each use (without a round trip), so a
request never spends its visit on a connection the database dropped during an
outage.

Visits are group-committed on the event loop: while one batch is being
applied, visits that arrive meanwhile queue up and are then applied together,
by one atomic ``count = count + N`` statement followed by one read, and every
waiter gets that read. A lone visit is a batch of one. When a batch fails,
everything queued behind it fails at once with the same reason instead of
waiting for a timeout of its own; the next visit tries afresh.

Every batch stored, and every database operation's outcome (an error's
reason class, whether the database answered), goes to the app's metrics.

``/readyz`` never queues behind a batch: it checks with a short-lived
connection of its own, one check at a time however many probes ask.

Every batch is stored with a key of its own (this process's writer id and
the batch's number, api/table.py), so applying it again is safe: a batch
whose outcome is unknown (the connection broke after it was sent) is applied
again, and if it had committed, the key refuses it and the batch only reads.

DB_HOST may name several servers: the nodes of a Galera cluster. Every
process prefers them in the order given and writes to the first that is a
synced member of the primary component, so all replicas write to one node
and certification conflicts stay rare. When that node fails, the batch is
applied again on the next one (at most one attempt per server), and the
connection stays there until it breaks; then the order starts afresh. A
certification conflict (error 1213) never commits, so it is simply retried.

The tables heal: if one is dropped while replicas run, the next statement that
finds it missing creates it again and runs once more. A statement that failed
because its table did not exist changed nothing, so running it again counts
each visit exactly once. While the table cannot be created (a user without
the CREATE privilege), visits answer 503 and ``/readyz`` says not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import select
import time
import uuid
from collections.abc import Callable
from typing import Protocol, TypeAlias, TypeVar

import pymysql
from pymysql.constants import CLIENT, ER

from api.db_errors import describe
from api.dedicated_thread import DedicatedThread
from api.metrics import Metrics
from api.settings import Settings
from api.table import (
    FORGET_OLD_BATCHES,
    READ_COUNTS,
    RECORD_BATCH,
    TABLE_USABLE,
    execute_healing,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection: TypeAlias = "pymysql.connections.Connection[pymysql.cursors.Cursor]"

# Counts in display order: (replica name, visits).
Counts = list[tuple[str, int]]

# A Galera node takes writes when it is synced and in the primary component.
_GALERA_STATE = (
    "SHOW GLOBAL STATUS WHERE Variable_name IN"
    " ('wsrep_local_state_comment', 'wsrep_cluster_status')"
)
# A certification conflict or a deadlock (both error 1213) rolls its
# transaction back: it is run again, this many times at most.
_CONFLICT_RETRIES = 5


class StoreUnavailable(Exception):
    """The database could not be reached or failed; safe to show as a reason."""


class VisitStore(Protocol):
    async def record_visit(self, replica: str) -> Counts:
        """Count one visit for ``replica``; return counts that include it."""
        ...

    async def counts(self) -> Counts:
        """Every replica's count, counting nothing."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers in time."""
        ...

    async def close(self) -> None:
        """Let go of the database: the app is shutting down."""
        ...


class _Batch:
    """Work waiting for the connection: visits for one replica, or (replica
    None) a read that counts nothing. Everyone in it shares one outcome.

    Each waiter has a future of its own (not one shared asyncio.Event, which
    costs a future per waiter anyway plus a list removal each): a waiter that
    is cancelled (its client went away) cancels only its own future, and the
    visit is still counted.
    """

    __slots__ = ("replica", "visits", "waiters")

    def __init__(self, replica: str | None) -> None:
        self.replica = replica
        self.visits = 0
        self.waiters: list[asyncio.Future[Counts]] = []

    def finish(self, result: Counts | None, error: BaseException | None) -> None:
        for waiter in self.waiters:
            if waiter.done():  # cancelled
                continue
            if result is not None:
                waiter.set_result(result)
            # Each waiter raises its own exception: one object raised in many
            # coroutines would share (and tangle) its traceback.
            elif isinstance(error, StoreUnavailable):
                waiter.set_exception(StoreUnavailable(str(error)))
            else:
                failure = RuntimeError("recording the visit failed")
                failure.__cause__ = error
                waiter.set_exception(failure)


class MariaDBStore:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        # The connection and the schema flag belong to the database thread.
        self._db_thread = DedicatedThread("database")
        self._connection: Connection | None = None
        self._server = 0  # the index in settings.db_servers of the connection's server
        self._schema_ready = False
        # This process's id as a writer of batches, and its batch numbers.
        self._writer = uuid.uuid4().bytes
        self._batch_numbers = itertools.count(1)
        # Event-loop state: batches in arrival order, keyed by replica (None:
        # a plain read), and the task applying them one after another.
        self._queue: dict[str | None, _Batch] = {}
        self._runner: asyncio.Task[None] | None = None
        self._readiness: asyncio.Future[None] | None = None

    async def record_visit(self, replica: str) -> Counts:
        return await self._submit(replica)

    async def counts(self) -> Counts:
        return await self._submit(None)

    async def _submit(self, replica: str | None) -> Counts:
        loop = asyncio.get_running_loop()
        batch = self._queue.get(replica)
        if batch is None:
            batch = self._queue[replica] = _Batch(replica)
        if replica is not None:
            batch.visits += 1
        waiter: asyncio.Future[Counts] = loop.create_future()
        batch.waiters.append(waiter)
        if self._runner is None:
            self._runner = loop.create_task(self._apply_queue())
        return await waiter

    async def _apply_queue(self) -> None:
        """Apply queued batches, oldest first, one at a time, until none is left.

        A failed batch is never retried, so no visit can be applied twice. The
        batches queued behind it fail with it: the database just failed within
        the timeout, and waiting another timeout each would double their wait.
        """
        try:
            while self._queue:
                key = next(iter(self._queue))
                batch = self._queue.pop(key)
                try:
                    number = next(self._batch_numbers)
                    result = await self._db_thread.run(
                        self._apply, batch.replica, batch.visits, number
                    )
                except Exception as exc:
                    failed = [batch, *self._queue.values()]
                    self._queue.clear()
                    for each in failed:
                        each.finish(None, exc)
                else:
                    if batch.replica is not None:
                        # Before any waiter resumes: an answered visit is already counted.
                        self._metrics.visits_stored(batch.visits)
                    batch.finish(result, None)
        finally:
            self._runner = None

    def _apply(self, replica: str | None, visits: int, number: int) -> Counts:
        """On the database thread: one batch (if any) and one read."""
        if replica is None:
            return self._run(_read_counts)
        args = (self._writer, number, self._writer, number, replica, visits, visits)

        def record(cursor: pymysql.cursors.Cursor) -> Counts:
            try:
                execute_healing(cursor, RECORD_BATCH, args)
            except pymysql.err.IntegrityError as exc:
                if exc.args[0] != ER.DUP_ENTRY:
                    raise
                # Applied before, its answer lost: it counts once, as it is.
                log.info("batch %d had committed before its connection broke", number)
                cursor.execute("ROLLBACK")
                return _read_counts(cursor)
            return _rows(cursor)

        return self._run(record)

    async def ping(self) -> None:
        # Concurrent probes share one check; none waits behind a visit batch.
        if self._readiness is None:
            check = asyncio.ensure_future(asyncio.to_thread(self._check_fresh_connection))
            check.add_done_callback(self._readiness_done)
            self._readiness = check
        try:
            await asyncio.shield(self._readiness)
        except StoreUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None

    def _readiness_done(self, check: asyncio.Future[None]) -> None:
        if self._readiness is check:
            self._readiness = None
        if not check.cancelled():
            check.exception()  # retrieved: no "never retrieved" warning

    def _check_fresh_connection(self) -> None:
        """On a throwaway thread: connect, check the table (healing it), close."""
        try:
            connection, _ = self._connect_preferred(tried=set())
            try:
                with connection.cursor() as cursor:
                    execute_healing(cursor, TABLE_USABLE)
            finally:
                with contextlib.suppress(pymysql.Error):
                    connection.close()
        except pymysql.Error as exc:
            self._metrics.database_failed(exc)
            raise StoreUnavailable(describe(exc)) from exc
        self._metrics.database_reached()

    async def close(self) -> None:
        """Close the connection (a COM_QUIT, so MariaDB sees a client leave
        rather than an aborted one) and stop the database thread."""
        await self._db_thread.run(self._discard)
        self._db_thread.stop()

    # Everything below runs on the database thread only.

    def _run(self, operation: Callable[[pymysql.cursors.Cursor], T]) -> T:
        """Run ``operation`` (safe to run again: see the module's docstring) on
        the preferred server; if that fails, on the next, once each."""
        tried: set[int] = set()
        conflicts = 0
        while True:
            try:
                connection = self._usable_connection(tried)
                with connection.cursor() as cursor:
                    result = operation(cursor)
            except pymysql.Error as exc:
                if exc.args and exc.args[0] == ER.LOCK_DEADLOCK and conflicts < _CONFLICT_RETRIES:
                    # Rolled back, never committed: run it again. Another
                    # process writes to another node (a failover split them):
                    # start the order afresh, so both end on the first that
                    # takes writes and the conflicts stop.
                    conflicts += 1
                    log.info("transaction conflict (%d): running it again", conflicts)
                    self._discard()
                    # A random pause, growing: two contenders fall out of step.
                    time.sleep(random.uniform(0, 0.005 * conflicts))  # noqa: S311 - not secret
                    continue
                if self._connection is not None:
                    tried.add(self._server)
                # A failed connection may be half-way through a packet: never reuse it.
                self._discard()
                self._metrics.database_failed(exc)
                reason = describe(exc)
                if len(tried) < len(self._settings.db_servers):
                    log.warning("database failed: %s; trying the next server", reason)
                    continue
                log.warning("database unavailable: %s", reason)
                raise StoreUnavailable(reason) from exc
            self._metrics.database_reached()
            return result

    def _usable_connection(self, tried: set[int]) -> Connection:
        if self._connection is not None and not is_usable(self._connection):
            self._discard()
        if self._connection is None:
            connection, server = self._connect_preferred(tried)
            try:
                self._ensure_schema(connection)
            except BaseException:
                connection.close()
                tried.add(server)
                raise
            self._connection, self._server = connection, server
        return self._connection

    def _connect_preferred(self, tried: set[int]) -> tuple[Connection, int]:
        """A connection to the first server, in the order given, that is not in
        ``tried`` and takes writes; each one that fails joins ``tried``."""
        servers = self._settings.db_servers
        failure: pymysql.Error | None = None
        for index, (host, port) in enumerate(servers):
            if index in tried:
                continue
            try:
                connection = self._open_connection(host, port)
                if len(servers) > 1:
                    _check_takes_writes(connection, f"{host}:{port}")
            except pymysql.Error as exc:
                tried.add(index)
                failure = exc
                continue
            return connection, index
        assert failure is not None, "every server had been tried"
        raise failure

    def _open_connection(self, host: str, port: int) -> Connection:
        s = self._settings
        return pymysql.connect(
            host=host,
            port=port,
            user=s.db_user,
            password=s.db_password,
            database=s.db_name,
            charset="utf8mb4",
            autocommit=True,
            # A batch and its read go in one round trip (api/table.py).
            client_flag=CLIENT.MULTI_STATEMENTS,
            connect_timeout=s.db_connect_timeout,
            read_timeout=s.db_connect_timeout,
            write_timeout=s.db_connect_timeout,
        )

    def _ensure_schema(self, connection: Connection) -> None:
        # Look before creating: a user without the CREATE privilege can use a
        # table that exists (CREATE TABLE IF NOT EXISTS would be refused), and
        # CREATE TABLE IF NOT EXISTS is safe when replicas race to make it.
        # The flag only spares the check on every later connection.
        if not self._schema_ready:
            with connection.cursor() as cursor:
                execute_healing(cursor, TABLE_USABLE)
                try:
                    cursor.execute(FORGET_OLD_BATCHES)
                except pymysql.err.OperationalError as exc:
                    # Another process forgetting the same rows on another node.
                    if exc.args[0] != ER.LOCK_DEADLOCK:
                        raise
            self._schema_ready = True

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # A broken connection may fail to say goodbye; that changes nothing.
            with contextlib.suppress(pymysql.Error):
                connection.close()


def is_usable(connection: Connection) -> bool:
    """True unless the server closed the connection or sent something unasked.

    Between requests the server never speaks first, so a readable socket means
    an EOF (the server went away or restarted) or an error packet (idle
    timeout, shutdown). Checking costs a poll() call, not a round trip.
    """
    # PyMySQL keeps the socket in a private attribute and has no accessor.
    sock = getattr(connection, "_sock", None)
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return not poller.poll(0)


def _rows(cursor: pymysql.cursors.Cursor) -> Counts:
    return [(name, int(count)) for name, count in cursor.fetchall()]


def _read_counts(cursor: pymysql.cursors.Cursor) -> Counts:
    execute_healing(cursor, READ_COUNTS)
    return _rows(cursor)


def _check_takes_writes(connection: Connection, server: str) -> None:
    """Raise unless this Galera node is synced and in the primary component."""
    with connection.cursor() as cursor:
        cursor.execute(_GALERA_STATE)
        state = {name.lower(): value for name, value in cursor.fetchall()}
    if state != {"wsrep_local_state_comment": "Synced", "wsrep_cluster_status": "Primary"}:
        connection.close()
        described = ", ".join(f"{name}={value}" for name, value in sorted(state.items()))
        # The code MariaDB itself answers with while a node is not ready.
        raise pymysql.err.OperationalError(
            ER.UNKNOWN_COM_ERROR, f"{server} does not take writes ({described or 'no Galera'})"
        )
