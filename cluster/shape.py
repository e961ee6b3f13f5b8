"""The production shape on one machine: its ports, and the configuration files of the
engines it runs (etcd, Patroni, HAProxy, pgbouncer), written from ``Layout``.

Design overview
---------------
Three PostgreSQL servers are run by Patroni (one primary, two replicas, synchronous
replication: a commit waits for one replica to have it), which keeps its leader lock in
etcd. HAProxy asks each Patroni's REST API who is primary (``GET /primary``) and who is a
replica (``GET /replica``), and serves the primary on one port and the replicas on another;
pgbouncer pools connections to both (``simkeep`` and ``simkeep_replicas``). HAProxy also
balances the app processes (two unless told otherwise). Everything listens on 127.0.0.1
only, on the ports below, and keeps its files under the layout's root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NODES = 3
APPS = 2
WORKERS = 3


@dataclass(frozen=True)
class Layout:
    root: Path
    bin_dir: Path  # PostgreSQL's programs
    base_port: int = 15400  # the cluster's ports start here
    public_port: int = 8080  # the load balancer in front of the app processes
    apps: int = APPS  # app processes behind it

    @property
    def etcd_client(self) -> int:
        return self.base_port

    @property
    def etcd_peer(self) -> int:
        return self.base_port + 1

    def postgres_port(self, node: int) -> int:
        return self.base_port + 10 + node

    def patroni_port(self, node: int) -> int:
        return self.base_port + 20 + node

    @property
    def primary_port(self) -> int:  # HAProxy: the primary, whichever node it is
        return self.base_port + 30

    @property
    def replicas_port(self) -> int:  # HAProxy: the replicas, round robin
        return self.base_port + 31

    @property
    def pgbouncer_port(self) -> int:
        return self.base_port + 32

    def app_port(self, n: int) -> int:
        return self.base_port + 40 + n

    @property
    def simulators_port(self) -> int:
        return self.base_port + 50

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pgbouncer_port}/simkeep"

    @property
    def replicas_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pgbouncer_port}/simkeep_replicas"

    def node_dir(self, node: int) -> Path:
        return self.root / f"pg{node}"

    def patroni_yaml(self, node: int) -> str:
        data = self.node_dir(node) / "data"
        return f"""scope: simkeep
namespace: /simkeep/
name: pg{node}
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:{self.patroni_port(node)}
  connect_address: 127.0.0.1:{self.patroni_port(node)}
etcd3:
  hosts: 127.0.0.1:{self.etcd_client}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 200
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
  initdb:
    - encoding: UTF8
    - locale: C
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:{self.postgres_port(node)}
  connect_address: 127.0.0.1:{self.postgres_port(node)}
  data_dir: {data}
  bin_dir: {self.bin_dir}
  pgpass: {self.node_dir(node) / "pgpass"}
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
  parameters:
    unix_socket_directories: '{self.node_dir(node)}'
tags:
  nofailover: false
  noloadbalance: false
"""

    def haproxy_cfg(self) -> str:
        def servers(check: str) -> str:
            return (
                "".join(
                    f"    server pg{n} 127.0.0.1:{self.postgres_port(n)} maxconn 200 "
                    f"check port {self.patroni_port(n)}\n"
                    for n in range(1, NODES + 1)
                )
                + f"    option httpchk GET /{check}\n    http-check expect status 200\n"
            )

        apps = "".join(
            f"    server app{n} 127.0.0.1:{self.app_port(n)} check\n"
            for n in range(1, self.apps + 1)
        )
        return f"""global
    maxconn 2000

defaults
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s

listen primary
    bind 127.0.0.1:{self.primary_port}
    mode tcp
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers("primary")}
listen replicas
    bind 127.0.0.1:{self.replicas_port}
    mode tcp
    balance roundrobin
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{servers("replica")}
listen app
    bind 127.0.0.1:{self.public_port}
    mode http
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 1s fall 2 rise 1
{apps}"""

    def pgbouncer_ini(self) -> str:
        return f"""[databases]
simkeep = host=127.0.0.1 port={self.primary_port} dbname=simkeep
simkeep_replicas = host=127.0.0.1 port={self.replicas_port} dbname=simkeep

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.pgbouncer_port}
unix_socket_dir = {self.root}
auth_type = trust
auth_file = {self.root / "userlist.txt"}
pool_mode = session
max_client_conn = 1000
default_pool_size = 60
server_check_query = select 1
server_check_delay = 1
logfile = {self.root / "pgbouncer.log"}
pidfile = {self.root / "pgbouncer.pid"}
"""
