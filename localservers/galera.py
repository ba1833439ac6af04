"""A private Galera cluster: three mariadbd nodes on loopback, each on its own
data dir and ports, replicating through Debian's ``galera-4`` provider.

The nodes join without a state transfer: the first node is bootstrapped once
to make the data dir and the application's user, stopped cleanly, and its
data dir copied to the others, so all three start at the same position and
in seconds. A joiner still starts its SST script (which then has nothing to
copy), so mariabackup must be installed all the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deploy.commands import ToolMissing, find_tool
from localservers.mariadb import MariaDBServer
from localservers.ports import free_port, wait_until

GALERA_PACKAGES = "Debian: apt-get install galera-4 mariadb-backup"
# Where Debian's galera-4 puts the provider (the official image: the same).
PROVIDERS = (Path("/usr/lib/galera/libgalera_smm.so"), Path("/usr/lib/libgalera_smm.so"))
CLUSTER_NAME = "visit-counter-test"


def find_provider() -> Path:
    for path in PROVIDERS:
        if path.is_file():
            return path
    # A library, not an executable, but missing all the same.
    raise ToolMissing(f"the Galera provider libgalera_smm.so is not installed ({GALERA_PACKAGES})")


class GaleraNode(MariaDBServer):
    """One node: a private mariadbd with the wsrep options of its cluster."""

    def __init__(self, index: int, provider: Path) -> None:
        super().__init__()
        self.name = f"node{index}"
        self.provider = provider
        self.galera_port = free_port()
        self.ist_port = free_port()
        self.sst_port = free_port()
        self.cluster_address = ""  # set by the cluster once every node has its port

    def server_options(self) -> list[str]:
        provider_options = ";".join(
            [
                f"gmcast.listen_addr=tcp://127.0.0.1:{self.galera_port}",
                f"ist.recv_addr=127.0.0.1:{self.ist_port}",
                "gcache.size=64M",
                # Declare a silent node gone after 2 s, not 5: the survivors'
                # commits wait for that, and the API's replay with them.
                "evs.suspect_timeout=PT2S",
                "evs.keepalive_period=PT0.5S",  # must be under a third of that
            ]
        )
        return [
            "--wsrep-on=ON",
            f"--wsrep-provider={self.provider}",
            f"--wsrep-cluster-name={CLUSTER_NAME}",
            f"--wsrep-cluster-address={self.cluster_address}",
            f"--wsrep-node-name={self.name}",
            f"--wsrep-node-address=127.0.0.1:{self.galera_port}",
            f"--wsrep-provider-options={provider_options}",
            "--wsrep-sst-method=mariabackup",
            f"--wsrep-sst-receive-address=127.0.0.1:{self.sst_port}",
            # What Galera needs, and what Jepsen's analysis asks for: row
            # events, interleaved auto-increment locks, a flush per commit.
            "--binlog-format=ROW",
            "--innodb-autoinc-lock-mode=2",
            "--innodb-flush-log-at-trx-commit=1",
        ]

    def status(self, *names: str) -> dict[str, str]:
        """Some of the node's wsrep status variables, by lower-case name."""
        listed = ", ".join(f"'{name}'" for name in names)
        rows = self.sql(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({listed})")
        return dict(line.split("\t", 1) for line in rows.splitlines())

    @property
    def address(self) -> str:
        """HOST:PORT, as DB_HOST names it."""
        return f"127.0.0.1:{self.port}"


class GaleraCluster:
    """Three nodes (or ``size``), bootstrapped, started and synced."""

    def __init__(self, size: int = 3) -> None:
        provider = find_provider()
        # A joiner's SST script refuses to start without it (module docstring).
        find_tool("mariadb-backup", GALERA_PACKAGES)
        self.nodes = [GaleraNode(index, provider) for index in range(size)]
        address = "gcomm://" + ",".join(f"127.0.0.1:{n.galera_port}" for n in self.nodes)
        for node in self.nodes:
            node.cluster_address = address

    def start(self) -> None:
        first, others = self.nodes[0], self.nodes[1:]
        first.install()
        first.start("--wsrep-new-cluster")
        self.wait_synced([first])
        first.create_user()
        first.stop()  # a clean stop records the position each copy starts from
        for node in others:
            shutil.copytree(first.datadir, node.datadir)
        first.start("--wsrep-new-cluster")
        for node in others:
            node.start()
        self.wait_synced(self.nodes, size=len(self.nodes))

    def wait_synced(self, nodes: list[GaleraNode], size: int = 1, timeout: float = 60) -> None:
        """Until each of ``nodes`` is synced in a primary component of ``size``."""

        def ready() -> bool:
            return all(
                node.status("wsrep_local_state_comment", "wsrep_cluster_size")
                == {"wsrep_local_state_comment": "Synced", "wsrep_cluster_size": str(size)}
                for node in nodes
            )

        wait_until(ready, timeout, f"{len(nodes)} Galera node(s) synced in a cluster of {size}")

    @property
    def db_host(self) -> str:
        """DB_HOST naming every node, the first preferred."""
        return ",".join(node.address for node in self.nodes)

    def counts(self, database: str) -> dict[str, int]:
        """Every stored count, read on the first node that is running, once it
        has applied every write the cluster committed before the read."""
        running = next(node for node in self.nodes if node.process is not None)
        rows = running.sql(
            "SET SESSION wsrep_sync_wait = 1; SELECT replica, count FROM visits", database
        )
        pairs = (line.split("\t") for line in rows.splitlines())
        return {name: int(count) for name, count in pairs}

    def create_database(self, name: str) -> None:
        self.nodes[0].create_database(name)

    def destroy(self) -> None:
        for node in self.nodes:
            node.destroy()
