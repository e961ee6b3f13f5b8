"""What the fault harness's tests share: whether this machine can run a PostgreSQL cluster
of the harness's own."""

from __future__ import annotations

import os
import pwd
import shutil

import pytest

from chaos.cluster import SERVER_USER, find_bin_dir


def unavailable() -> str | None:
    """Why this machine cannot run a cluster of the harness's own, if it cannot."""
    try:
        find_bin_dir()
    except FileNotFoundError as error:
        return str(error)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root, with no {SERVER_USER} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, without runuser to run PostgreSQL as another user"
    return None


def require_own_cluster() -> None:
    """Skip the test when a cluster of its own cannot run here — or, with
    ``SIMKEEP_REQUIRE_POSTGRES=1``, fail it."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("SIMKEEP_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
