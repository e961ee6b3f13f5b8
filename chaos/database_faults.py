"""What the nemesis does to the database: crash the harness's own server, or kill the
primary of the Patroni cluster (``CHAOS_DATABASE=cluster``), and bring it back."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.cluster import PostgresCluster
from cluster.run import Cluster


@dataclass
class ServerCrash:
    """``pg_ctl stop -m immediate`` (a crash: recovery from the WAL at the next start)."""

    cluster: PostgresCluster
    fault: str = "stop -m immediate"
    target: str = "postgresql"
    chance: float = 0.25  # of the network loop's faults
    down: tuple[float, float] = (0.5, 3.0)  # seconds before the server is started again

    def crash(self) -> None:
        self.cluster.stop("immediate")

    def recover(self) -> None:
        if not self.cluster.running():
            self.cluster.start()


@dataclass
class PrimaryKill:
    """``kill -9`` of the primary's Patroni and its server, as a lost machine; Patroni
    promotes the synchronous replica. Recovery starts the lost node's Patroni again, which
    rewinds it and makes it a replica of the new primary."""

    cluster: Cluster
    fault: str = "kill -9 the primary (Patroni and PostgreSQL)"
    target: str = "patroni"
    chance: float = 0.5
    # seconds the lost node stays down: past its leader lock's ttl (10 s), so that a replica
    # is promoted before it comes back
    down: tuple[float, float] = (15.0, 20.0)
    lost: list[int] = field(default_factory=list)

    def crash(self) -> None:
        primary = self.cluster.primary()
        if primary is None:  # a failover under way: nothing to kill now
            return
        self.cluster.kill_node(primary)
        self.lost.append(primary)

    def recover(self) -> None:
        while self.lost:
            node = self.cluster.nodes[self.lost.pop()]
            if not node.alive():
                node.start(timeout=60.0)
