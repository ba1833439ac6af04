"""A visits table dropped while replicas run is created again by the next
visit, without a restart and without counting any visit twice; while it
cannot be created, visits answer 503 and /readyz says not ready."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.table import BATCHES_SCHEMA, SCHEMA
from deploy.api_client import request
from localservers.mariadb import MariaDBServer
from localservers.replica import Replica
from tests.utils.servers import ReplicaFactory, integration_env

LIMITED_USER, LIMITED_PASSWORD = "no_create", "no-create-password"


def visit(replica: Replica, times: int) -> int:
    """``times`` concurrent visits; how many answered 200."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(request, [f"{replica.url}/"] * times))
    return sum(answer.status == 200 for answer in answers)


def test_a_dropped_table_is_created_again_and_counts_stay_exact(
    mariadb: MariaDBServer, database: str, start_replicas: ReplicaFactory
) -> None:
    (replica,) = start_replicas(mariadb, database, "heals")
    assert visit(replica, 40) == 40
    mariadb.sql("DROP TABLE visits", database)

    assert visit(replica, 60) == 60
    assert mariadb.counts(database) == {"heals": 60}
    assert request(f"{replica.url}/readyz").status == 200


@pytest.fixture
def limited_replica(mariadb: MariaDBServer, database: str) -> Iterator[Replica]:
    """A replica whose user may use the table but not create it."""
    mariadb.sql(
        f"CREATE USER '{LIMITED_USER}'@'127.0.0.1' IDENTIFIED BY '{LIMITED_PASSWORD}';"
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{LIMITED_USER}'@'127.0.0.1';"
    )
    env = {
        **integration_env(mariadb, database),
        "DB_USER": LIMITED_USER,
        "DB_PASSWORD": LIMITED_PASSWORD,
    }
    replica = Replica("limited", env)
    try:
        replica.start()
        yield replica
    finally:
        replica.stop()
        mariadb.sql(f"DROP USER '{LIMITED_USER}'@'127.0.0.1'")


def test_while_the_table_cannot_be_created_visits_fail_and_readyz_says_not_ready(
    mariadb: MariaDBServer, database: str, limited_replica: Replica
) -> None:
    mariadb.sql(f"{SCHEMA}; {BATCHES_SCHEMA}", database)
    assert visit(limited_replica, 5) == 5
    assert request(f"{limited_replica.url}/readyz").status == 200

    mariadb.sql("DROP TABLE visits", database)
    refused = request(f"{limited_replica.url}/")
    assert refused.status == 503
    assert "retry-after" in refused.headers
    assert request(f"{limited_replica.url}/readyz").status == 503
    assert request(f"{limited_replica.url}/healthz").status == 200

    # Once the user may create it, visits heal it: no restart. A connection
    # opened before the GRANT keeps its old database privileges (MariaDB
    # reads them at connect time), so each worker may fail one more visit
    # before its fresh connection succeeds; every 200 is counted once.
    mariadb.sql(f"GRANT CREATE ON `{database}`.* TO '{LIMITED_USER}'@'127.0.0.1'")
    oks = sum(visit(limited_replica, 1) for _ in range(10))
    assert oks >= 8
    assert mariadb.counts(database) == {"limited": oks}
    assert request(f"{limited_replica.url}/readyz").status == 200
