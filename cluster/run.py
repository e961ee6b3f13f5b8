"""``make cluster``: the production shape on this machine, until stopped (docs/scaling.md).

Design overview
---------------
``Cluster.up`` starts, in order and each once it is ready: etcd; three Patroni nodes (they
elect a primary and make the others its replicas, one of them synchronous); HAProxy (the
primary on one port, the replicas on another, the two app processes behind one address);
the database ``simkeep`` on the primary; pgbouncer in front of HAProxy's two database ports;
the schema (``simkeep db upgrade`` through pgbouncer); the simulated providers; two app
processes (replicas for reads, the queue for background work, no jobs of their own); and
three workers on RabbitMQ (the machine's broker, queues named ``cluster.*``). ``down``
stops every process it started, by PID, in the reverse order, and deletes its folder. The
processes are ``chaos.processes.Process``: a session of their own each, signals only to
what was started. PostgreSQL, Patroni and pgbouncer refuse to run as root: as root they run
as the ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import httpx

from chaos.cluster import SERVER_USER, find_bin_dir
from chaos.processes import Process, Spec
from chaos.queues import Queues
from cluster.shape import NODES, WORKERS, Layout

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var" / "cluster"
BROKER = os.environ.get("SIMKEEP_QUEUE_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = "cluster"
STOP_GRACE = 15.0  # seconds a process has to stop on SIGTERM (Patroni stops its server)
ELECTION = 90.0
PRIMARY_ANSWERS = 6  # seconds for Patroni to bootstrap a primary and two streaming replicas


class Cluster:
    def __init__(self, layout: Layout, *, queues: Queues | None = None) -> None:
        self.layout = layout
        self.processes: list[Process] = []
        self.nodes: dict[int, Process] = {}
        self.queues = queues if queues is not None else Queues(BROKER, PREFIX)

    def up(self, *, simkeep: bool = True) -> None:
        """Start everything (the databases alone without ``simkeep``: for the fault
        harness, which runs simkeep's processes itself); on a failure, stop what was
        started and raise."""
        try:
            self._databases()
            if simkeep:
                self.start_simkeep()
        except BaseException:
            self.down()
            raise

    def _databases(self) -> None:
        layout = self.layout
        _owned_by_server(layout.root)
        self._start("etcd", _etcd(layout), port=layout.etcd_client)
        for node in range(1, NODES + 1):
            config = layout.node_dir(node) / "patroni.yml"
            _owned_by_server(config.parent)
            _write(config, layout.patroni_yaml(node))
            self.nodes[node] = self._start(
                f"patroni-{node}", _as_server(["patroni", str(config)]), port=None
            )
        self.wait_for_roles(replicas=NODES - 1, timeout=ELECTION)
        haproxy = layout.root / "haproxy.cfg"
        _write(haproxy, layout.haproxy_cfg())
        self._start("haproxy", ["haproxy", "-db", "-f", str(haproxy)], port=layout.primary_port)
        _create_database(layout)
        _write(layout.root / "pgbouncer.ini", layout.pgbouncer_ini())
        _write(layout.root / "userlist.txt", '"postgres" ""\n')
        self._start(
            "pgbouncer",
            _as_server(["pgbouncer", str(layout.root / "pgbouncer.ini")]),
            port=layout.pgbouncer_port,
        )

    def start_simkeep(self) -> None:
        """The schema, the simulated providers, the app processes and the workers, on the
        databases ``up(simkeep=False)`` started."""
        layout = self.layout
        env = self.simkeep_env()
        subprocess.run([str(BIN / "simkeep"), "db", "upgrade"], env=env, check=True)
        sim_url = f"http://127.0.0.1:{layout.simulators_port}"
        self._start(
            "simulators",
            [str(BIN / "simkeep"), "simulators", "serve", "--port", str(layout.simulators_port)],
            url=f"{sim_url}/_sim/records",
        )
        for n in range(1, layout.apps + 1):
            self._start(
                f"app-{n}",
                [str(BIN / "simkeep"), "serve", "--port", str(layout.app_port(n))],
                url=f"http://127.0.0.1:{layout.app_port(n)}/healthz",
            )
        for n in range(1, WORKERS + 1):
            self._start(f"worker-{n}", [str(BIN / "simkeep"), "worker"], port=None)

    def simkeep_env(self) -> dict[str, str]:
        """The settings of the app processes and the workers."""
        layout = self.layout
        return {
            **os.environ,
            "SIMKEEP_ENVIRONMENT": "development",
            "SIMKEEP_DATABASE_URL": layout.database_url,
            "SIMKEEP_REPLICA_URLS": layout.replicas_url,
            "SIMKEEP_QUEUE_URL": BROKER,
            "SIMKEEP_QUEUE_PREFIX": PREFIX,
            "SIMKEEP_RUN_JOBS": "false",
            "SIMKEEP_SIMULATORS": "true",
            "SIMKEEP_SIMULATORS_URL": f"http://127.0.0.1:{layout.simulators_port}",
            "SIMKEEP_PUBLIC_URL": f"http://127.0.0.1:{layout.public_port}",
            "SIMKEEP_KEYS_DIR": str(layout.root / "keys"),
            "SIMKEEP_LOG_LEVEL": "WARNING",
        }

    def roles(self) -> dict[int, str]:
        """Each node's role as its Patroni says: primary, replica, or unknown."""
        found: dict[int, str] = {}
        for node in range(1, NODES + 1):
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{self.layout.patroni_port(node)}/patroni", timeout=1.0
                ).json()
            except (httpx.HTTPError, ValueError):
                found[node] = "unknown"
                continue
            role = str(answer.get("role", "unknown"))
            role = "primary" if role == "master" else role  # Patroni 3.0 says master
            found[node] = role if answer.get("state") == "running" else "unknown"
        return found

    def primary(self) -> int | None:
        return next((node for node, role in self.roles().items() if role == "primary"), None)

    def wait_for_roles(self, *, replicas: int, timeout: float) -> int:
        """Wait for a primary and ``replicas`` running replicas; return the primary."""
        deadline = time.monotonic() + timeout
        while True:
            roles = self.roles()
            primary = [node for node, role in roles.items() if role == "primary"]
            if primary and sum(role == "replica" for role in roles.values()) >= replicas:
                return primary[0]
            if time.monotonic() > deadline:
                raise RuntimeError(f"no primary with {replicas} replicas in {timeout:.0f} s")
            time.sleep(0.5)

    def kill_node(self, node: int) -> None:
        """Crash a node as a lost machine would: its Patroni (kill -9), and the server
        Patroni started, whose PID its data folder holds (Patroni runs it in a session of
        its own)."""
        self.nodes[node].kill()
        self._kill_server(node)

    def _kill_server(self, node: int) -> None:
        pid_file = self.layout.node_dir(node) / "data" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return  # no server running
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def down(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace=STOP_GRACE)
        for node in self.nodes:  # a server whose Patroni was killed outlives it
            self._kill_server(node)
        self.processes.clear()
        self.queues.delete()
        shutil.rmtree(self.layout.root, ignore_errors=True)

    def _start(
        self, name: str, argv: list[str], *, port: int | None = None, url: str | None = None
    ) -> Process:
        spec = Spec(
            name, argv, self.simkeep_env(), LOGS / f"{name}.log", ready_url=url, ready_port=port
        )
        process = Process(spec)
        process.start(timeout=60.0)
        self.processes.append(process)
        return process


def _etcd(layout: Layout) -> list[str]:
    client, peer = f"http://127.0.0.1:{layout.etcd_client}", f"http://127.0.0.1:{layout.etcd_peer}"
    return [
        "etcd",
        *("--name", "simkeep", "--data-dir", str(layout.root / "etcd")),
        *("--listen-client-urls", client, "--advertise-client-urls", client),
        *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
        *("--initial-cluster", f"simkeep={peer}", "--log-level", "warn"),
    ]


def _as_server(argv: list[str]) -> list[str]:
    """A command PostgreSQL's tools would refuse to run as root, as the server's user."""
    return ["runuser", "-u", SERVER_USER, "--", *argv] if os.geteuid() == 0 else argv


def _owned_by_server(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    if os.geteuid() == 0:
        server = pwd.getpwnam(SERVER_USER)
        os.chown(folder, server.pw_uid, server.pw_gid)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    if os.geteuid() == 0:
        server = pwd.getpwnam(SERVER_USER)
        os.chown(path, server.pw_uid, server.pw_gid)


def _create_database(layout: Layout) -> None:
    """Create ``simkeep`` through HAProxy's primary port, once that port has led to the
    primary (not a replica) six times running: HAProxy takes every server for up until its
    checks have said otherwise."""
    deadline, running = time.monotonic() + 60, 0
    while running < PRIMARY_ANSWERS:
        answer = _psql(layout, "SELECT pg_is_in_recovery()")
        running = running + 1 if answer == "f" else 0
        if time.monotonic() > deadline:
            raise RuntimeError("HAProxy's primary port never led to the primary alone")
        time.sleep(0.25)
    if _psql(layout, "SELECT 1 FROM pg_database WHERE datname = 'simkeep'") != "1":
        _psql(layout, "CREATE DATABASE simkeep")


def _psql(layout: Layout, sql: str) -> str | None:
    """One statement through HAProxy's primary port; its answer, or None if it failed."""
    done = subprocess.run(
        [
            str(layout.bin_dir / "psql"),
            *("--host", "127.0.0.1", "--port", str(layout.primary_port)),
            *("--username", "postgres", "--dbname", "postgres", "-Atc", sql),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def new_layout() -> Layout:
    root = Path(tempfile.mkdtemp(prefix="simkeep-cluster-"))
    return Layout(root, find_bin_dir(), public_port=int(os.environ.get("CLUSTER_PORT", "8080")))


def main() -> None:
    cluster = Cluster(new_layout())
    stop = {"now": False}

    def stopping(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    cluster.up()
    layout = cluster.layout
    print(
        f"simkeep's production shape is up: http://127.0.0.1:{layout.public_port} "
        f"(HAProxy → {layout.apps} app processes), primary pg{cluster.primary()} of {NODES} "
        f"(Patroni, etcd), pgbouncer on {layout.pgbouncer_port}, {WORKERS} workers on "
        f"RabbitMQ; logs in {LOGS}. Ctrl-C stops it all.",
        flush=True,
    )
    try:
        while not stop["now"]:
            time.sleep(0.5)
    finally:
        cluster.down()
        print("stopped everything the cluster started", flush=True)


if __name__ == "__main__":
    main()
