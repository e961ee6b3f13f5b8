"""The fault harness, short: a minute of the workload under the nemesis on each database
(and on PostgreSQL once more with the workers as a fleet on RabbitMQ),
then recovery, drain and every figure of the checker — so a change that loses, creates or
doubles money under crashes, restarts or cut connections fails ``make test``.

On SQLite there is no database server to stop: the nemesis kills and pauses the app and the
workers and cuts the simulators' notifications. On PostgreSQL it also stops the harness's
own cluster (``immediate``) and cuts and slows the app's and workers' connections to it.
Auto keep-alive must have charged and credited at least one top-up in the minute, the
counters opened shifts, topped up, sold vouchers and had them redeemed, people asked for
refunds, every online
provider of the registry was paid, and each push provider (FPS) both credited an order and
held a payment in review (a wrong or missing reference, another amount), so that their
figures prove something.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simkeep.payment_methods import ONLINE_PROVIDERS, PROVIDERS
from tests.chaos.conftest import require_own_cluster
from tests.conftest import require_rabbitmq

ROOT = Path(__file__).resolve().parents[2]
SECONDS = "60"
CLIENTS = "6"
TIMEOUT = 600

pytestmark = pytest.mark.slow


def run_harness(database: str, queue_url: str = "") -> subprocess.CompletedProcess[str]:
    """Run the harness; past its time it is told to stop (SIGTERM), so that it stops what
    it started, and after a minute more its group is killed."""
    env = {
        **os.environ,
        "CHAOS_DATABASE": database,
        "CHAOS_SECONDS": SECONDS,
        "CHAOS_CLIENTS": CLIENTS,
        "CHAOS_QUEUE_URL": queue_url,
        "REPORT": "",
    }
    command = [sys.executable, "-m", "chaos.run"]
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as harness:
        try:
            output, _ = harness.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            harness.terminate()
            try:
                output, _ = harness.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(harness.pid, signal.SIGKILL)
                output, _ = harness.communicate()
            output = f"{output}\nthe harness ran past {TIMEOUT} s and was stopped"
        return subprocess.CompletedProcess(command, harness.returncode, output, "")


@pytest.mark.parametrize("shape", ["sqlite", "postgresql", "postgresql+rabbitmq"])
def test_a_minute_under_faults_accounts_for_every_cent(shape: str) -> None:
    database, _, queue = shape.partition("+")
    if database == "postgresql":
        require_own_cluster()
    finished = run_harness(database, require_rabbitmq() if queue else "")
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-6000:]
    assert "PASS: 0 figure(s) wrong" in output
    assert "faults injected: " in output
    faults = int(output.split("faults injected: ")[1].split(";")[0])
    assert faults >= 6, output[-3000:]  # a fault every 2–10 s, on two schedules
    charges = re.search(r"'charges\s+credited':\s+(\d+)", output)
    assert charges is not None, output[-3000:]
    assert int(charges.group(1)) > 0, output[-3000:]  # keep-alive charged in the minute
    asked = re.search(r"'asked':\s+(\d+)", output)  # refunds asked and checked
    assert asked is not None, output[-3000:]
    assert int(asked.group(1)) > 0, output[-3000:]
    for counter_op in ("open_shift", "counter_topup", "sell_vouchers", "redeem_voucher"):
        done = re.search(rf"'{counter_op}':\s*\{{[^}}]*'(?:unknown→)?ok':", output)
        assert done is not None, f"no {counter_op} went through: {output[-3000:]}"
    for provider in ONLINE_PROVIDERS:  # every way to pay was paid at its provider
        paid = re.search(rf"^{provider.value}: .*\bpaid (\d+)", output, re.MULTILINE)
        assert paid is not None, f"no records of {provider.value}: {output[-3000:]}"
        assert int(paid.group(1)) > 0, f"nothing paid by {provider.value}: {output[-3000:]}"
    for push in (p for p in ONLINE_PROVIDERS if PROVIDERS[p].push):
        for state in ("matched", "review"):  # a push payment credited, and one held for staff
            taken = re.search(rf"\b{push.value} {state} (\d+)", output)
            assert taken is not None, f"no {push.value} payment {state}: {output[-3000:]}"
