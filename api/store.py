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

DB_HOST may name several servers: the nodes of a Galera cluster. Then every
batch is stored with a key of its own (this process's writer id and the
batch's number, api/table.py), so applying it again is safe: a batch whose
outcome is unknown (the connection broke after it was sent) is applied again
on another node, and if it had committed, the key refuses it and the batch
only reads. With one server there is no other to apply it on: the batch
fails (docs/api.md says a 503 may have been counted), and no key is written.

With several servers, every process prefers them in the order given and
writes to the first that is a synced member of the primary component, so all
replicas write to one node and certification conflicts stay rare. When that
node fails, the batch is applied again on the next one, and the connection
stays there until it breaks; then the order starts afresh. When every node
has failed it, those worth another try are tried again until two
DB_CONNECT_TIMEOUTs have passed: those that answered (not synced yet: the
group is still declaring the lost node gone), that failed at once (refused),
or that took a new connection and then stalled (a view change or a state
transfer holds commits for seconds). Only a server that could not be reached
within a timeout is skipped: each try of it would cost another. A
certification conflict (error 1213) never commits, so it is simply retried.

Galera can lose a transaction it has acknowledged when the node that took it
is killed (Jepsen's 2026 analysis of MariaDB Galera Cluster 12.1.2 saw it
with process crashes; so did this project's integration tier, one visit in
some 6,700). So each process remembers the batches it was told committed in
the last minutes (at most ``_ACKNOWLEDGED_KEPT``, whose keys it keeps), and
on every new connection after its first looks their keys up on the new
server: a batch whose key is missing is applied again. The key makes that
safe too: if the batch arrives after all, one of the two is refused.

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
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, Protocol, TypeAlias, TypeVar

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
    RECORD_VISITS,
    STORED_BATCHES,
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
# With several servers, a batch that every server failed, some with an answer,
# is tried again on those for this many DB_CONNECT_TIMEOUTs from its first
# try, a pause between passes: a failover's view change takes a few seconds.
_FAILOVER_TIMEOUTS = 2
_FAILOVER_PAUSE = 0.2
# Acknowledged batches each process remembers, and keeps the keys of, to look
# for after a failover: a second or more of batches at full speed ...
_ACKNOWLEDGED_KEPT = 1000
# ... for this long: far less than FORGET_OLD_BATCHES's hour, so a key that
# is missing was lost, never forgotten.
_ACKNOWLEDGED_FOR = 600.0


class _Acknowledged(NamedTuple):
    number: int
    replica: str
    visits: int
    at: float  # time.monotonic()


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
        self._acknowledged: deque[_Acknowledged] = deque(maxlen=_ACKNOWLEDGED_KEPT)
        self._connected_before = False
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

        A batch that failed on every server (``_run``) fails its visits. The
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
        if len(self._settings.db_servers) == 1:
            return self._run(lambda cursor: _record_visits(cursor, replica, visits))
        result = self._run(lambda cursor: self._record(cursor, number, replica, visits))
        self._acknowledged.append(_Acknowledged(number, replica, visits, time.monotonic()))
        return result

    def _record(
        self, cursor: pymysql.cursors.Cursor, number: int, replica: str, visits: int
    ) -> Counts:
        # The keys of batches older than every remembered one go with it.
        keep_from = self._acknowledged[0].number if self._acknowledged else number
        args = (self._writer, number, self._writer, keep_from, replica, visits, visits)
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
            connection, _ = self._connect_preferred(tried={})
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
        the preferred server; if that fails, on the next. With several servers,
        those worth another try (module docstring) are tried again, in passes,
        until ``_FAILOVER_TIMEOUTS`` timeouts have passed since the first try."""
        servers = len(self._settings.db_servers)
        # The servers that failed: index -> whether it is worth another try.
        tried: dict[int, bool] = {}
        deadline = time.monotonic() + _FAILOVER_TIMEOUTS * self._settings.db_connect_timeout
        conflicts = 0
        while True:
            fresh = False
            try:
                held = self._connection
                connection = self._usable_connection(tried)
                fresh = connection is not held
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
                    # A connection opened for this try was answered (and the
                    # node said it takes writes): a statement that then failed
                    # met a live node, held up for a moment.
                    tried[self._server] = answered(exc) or fresh
                # A failed connection may be half-way through a packet: never reuse it.
                self._discard()
                self._metrics.database_failed(exc)
                reason = describe(exc)
                if len(tried) < servers:
                    log.warning("database failed: %s; trying the next server", reason)
                    continue
                if servers > 1 and any(tried.values()) and time.monotonic() < deadline:
                    # While the group declares a lost node gone (a view
                    # change, seconds), the survivors refuse or hold writes:
                    # try again those worth it. One that could not be reached
                    # stays skipped: each try of it would cost a whole timeout.
                    log.warning("database failed: %s; trying again the servers worth it", reason)
                    tried = {index: False for index, worth in tried.items() if not worth}
                    time.sleep(_FAILOVER_PAUSE)
                    continue
                log.warning("database unavailable: %s", reason)
                raise StoreUnavailable(reason) from exc
            self._metrics.database_reached()
            return result

    def _usable_connection(self, tried: dict[int, bool]) -> Connection:
        if self._connection is not None and not is_usable(self._connection):
            self._discard()
        if self._connection is None:
            connection, server = self._connect_preferred(tried)
            try:
                self._ensure_schema(connection)
                if self._connected_before and len(self._settings.db_servers) > 1:
                    self._apply_lost_batches(connection)
            except BaseException:
                connection.close()
                # It answered the handshake and took writes a moment ago.
                tried[server] = True
                raise
            self._connection, self._server = connection, server
            self._connected_before = True
        return self._connection

    def _apply_lost_batches(self, connection: Connection) -> None:
        """Apply again each recently acknowledged batch whose key this server
        lacks: Galera lost it with the node that took it (module docstring)."""
        horizon = time.monotonic() - _ACKNOWLEDGED_FOR
        recent = [batch for batch in self._acknowledged if batch.at >= horizon]
        if not recent:
            return
        with connection.cursor() as cursor:
            cursor.execute(STORED_BATCHES, (self._writer, recent[0].number))
            stored = {int(number) for (number,) in cursor.fetchall()}
            for batch in recent:
                if batch.number not in stored:
                    log.warning(
                        "batch %d was acknowledged but is missing here: applying it again",
                        batch.number,
                    )
                    self._record(cursor, batch.number, batch.replica, batch.visits)

    def _connect_preferred(self, tried: dict[int, bool]) -> tuple[Connection, int]:
        """A connection to the first server, in the order given, that is not in
        ``tried`` and takes writes; each one that fails joins ``tried``."""
        servers = self._settings.db_servers
        failure: pymysql.Error | None = None
        for index, (host, port) in enumerate(servers):
            if index in tried:
                continue
            started = time.monotonic()
            try:
                connection = self._open_connection(host, port)
                if len(servers) > 1:
                    _check_takes_writes(connection, f"{host}:{port}")
            except pymysql.Error as exc:
                # Worth another try unless it cost a timeout to find out.
                quick = time.monotonic() - started < self._settings.db_connect_timeout / 2
                tried[index] = answered(exc) or quick
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


def answered(error: BaseException) -> bool:
    """True for an error the server sent; False when it could not be reached
    or did not answer in time (the client's own codes, 2000 and up)."""
    code = error.args[0] if isinstance(error, pymysql.Error) and error.args else None
    return isinstance(code, int) and code < 2000


def _rows(cursor: pymysql.cursors.Cursor) -> Counts:
    return [(name, int(count)) for name, count in cursor.fetchall()]


def _record_visits(cursor: pymysql.cursors.Cursor, replica: str, visits: int) -> Counts:
    execute_healing(cursor, RECORD_VISITS, (replica, visits, visits))
    return _rows(cursor)


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
