"""A PostgreSQL cluster of the harness's own, which it may crash and restart at will.

Design overview
---------------
The harness stops its database with ``-m immediate`` (a crash: no checkpoint, recovery from
the WAL at the next start), so it cannot use the machine's cluster, which other work shares
and which must never be stopped. ``PostgresCluster`` makes one in a directory of its own:
``initdb`` into ``root/data``, its settings appended to ``postgresql.conf`` (loopback only, a
port of its own, its socket in ``root``, ``fsync`` on so that a crash loses nothing that was
committed, room for 200 connections), ``pg_ctl`` to start and stop it, logging to
``root/postgres.log``, and one database, ``simkeep``. ``remove`` deletes all of it.

PostgreSQL's programs refuse to run as root. As root, they run as the ``postgres`` user
(``runuser``) and ``root`` is handed to that user; as anyone else they run directly, as that
user. Each runs from ``/``, a directory every user may enter, with its output captured and
shown if it fails.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

INSTALLS = Path("/usr/lib/postgresql")  # Debian: one folder per major version
SERVER_USER = "postgres"
DATABASE = "simkeep"
# Seconds pg_ctl waits for a start or a stop: a start after a crash replays the WAL first.
PG_CTL_WAIT = 60
COMMAND_TIMEOUT = 120
STOP_MODES = ("fast", "immediate")


def find_bin_dir(installs: Path = INSTALLS) -> Path:
    """The ``bin`` folder of the newest PostgreSQL under ``installs`` (``…/15/bin``)."""
    versions = [
        path
        for path in installs.glob("*")
        if path.name.replace(".", "").isdigit() and (path / "bin" / "pg_ctl").exists()
    ]
    if not versions:
        raise FileNotFoundError(f"no PostgreSQL programs under {installs}/*/bin")
    newest = max(versions, key=lambda path: tuple(int(part) for part in path.name.split(".")))
    return newest / "bin"


class PostgresCluster:
    """A cluster in ``root`` serving the database ``simkeep`` on 127.0.0.1:``port``."""

    def __init__(self, root: Path, port: int, *, bin_dir: Path | None = None) -> None:
        self.root = root
        self.port = port
        self.bin_dir = bin_dir if bin_dir is not None else find_bin_dir()
        self.data = root / "data"
        self.log_path = root / "postgres.log"

    @property
    def url(self) -> str:
        return self.url_at(self.port)

    def url_at(self, port: int) -> str:
        """The database's URL through another port, such as a proxy's in front of it."""
        return f"postgresql://{SERVER_USER}@127.0.0.1:{port}/{DATABASE}"

    def create(self) -> None:
        """A new cluster in ``root/data``, started, with the database ``simkeep``."""
        self._own_root()
        self._run(
            "initdb",
            *("--pgdata", str(self.data), "--username", SERVER_USER),
            *("--encoding", "UTF8", "--locale", "C"),
            *("--auth-local", "trust", "--auth-host", "trust"),
            "--no-sync",  # the harness crashes the server, never the machine
        )
        self._configure("The fault harness's cluster")
        self.start()
        self._run(
            "createdb",
            *("--host", str(self.root), "--port", str(self.port), "--username", SERVER_USER),
            DATABASE,
        )

    def create_replica_of(self, primary: PostgresCluster) -> None:
        """A streaming replica of ``primary`` in ``root/data`` (``pg_basebackup`` with its
        recovery settings written), listening on its own port, started."""
        self._own_root()
        self._run(
            "pg_basebackup",
            *("--host", str(primary.root), "--port", str(primary.port)),
            *("--username", SERVER_USER, "--pgdata", str(self.data)),
            *("--write-recovery-conf", "--wal-method", "stream", "--checkpoint", "fast"),
            "--no-sync",
        )
        self._configure("The fault harness's replica")
        self.start()

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        self._run(
            "pg_ctl",
            *("start", "--pgdata", str(self.data), "--log", str(self.log_path)),
            *("--wait", "--timeout", str(PG_CTL_WAIT)),
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (a clean shutdown) or ``immediate`` (a crash)."""
        if mode not in STOP_MODES:
            raise ValueError(f"stop mode must be one of {STOP_MODES}, not {mode!r}")
        if not self.running():
            return
        self._run(
            "pg_ctl",
            *("stop", "--pgdata", str(self.data), "--mode", mode),
            *("--wait", "--timeout", str(PG_CTL_WAIT)),
        )

    def remove(self) -> None:
        """Crash the server if it runs, then delete ``root`` and everything in it."""
        self.stop("immediate")
        if self.root.exists():
            shutil.rmtree(self.root)

    def running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        status = self._command("pg_ctl", "status", "--pgdata", str(self.data))
        # 0: running; 3: not running (4, no data folder, is ruled out above)
        return status.returncode == 0

    def _own_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            server = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, server.pw_uid, server.pw_gid)

    def _configure(self, title: str) -> None:
        """Its settings, after those ``initdb`` or the base backup wrote (the last wins)."""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": _quoted(str(self.root)),
            "fsync": "on",
            "max_connections": "200",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\n# {title}\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def _run(self, program: str, *arguments: str) -> None:
        result = self._command(program, *arguments)
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(arguments)} failed ({result.returncode}):\n{result.stdout}"
            )

    def _command(self, program: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / program), *arguments]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        return subprocess.run(
            argv,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )


def _quoted(value: str) -> str:
    """A string value as ``postgresql.conf`` reads it."""
    return "'" + value.replace("'", "''") + "'"
