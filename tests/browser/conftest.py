"""Fixtures for browser tests: a live simkeep server, Debian's Chromium, a screenshot folder.

The server is the production ASGI factory (``simkeep.app:asgi``) under uvicorn, in a child
process on 127.0.0.1 and a free port, against a copy of the migrated SQLite template, with
everything the embedded default runs: the simulators, and the worker loop (SMS delivery,
polling, the simulators' notification retries), its public URL being its own address so
that the simulators' notifications reach its notify endpoints over HTTP. ``demo_server`` is
the same with the demo data seeded by ``simkeep demo seed`` first. The browser is
``/usr/bin/chromium`` driven by Playwright (which cannot download its own build here).
Every page is opened in a context that refuses any request leaving 127.0.0.1, and records
it, so a test can prove a page needs nothing from outside; a phone's context also sends a
phone browser's User-Agent, as the pages tell phones apart by it. Screenshots go to
``$SIMKEEP_SCREENSHOTS``, by default ``var/screenshots`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    ViewportSize,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SHUTDOWN_TIMEOUT_S = 10.0
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Mobile Safari/537.36"
)


@dataclass
class Tab:
    """One page in a fresh browser context, with what went wrong while it was open."""

    page: Page
    outside_requests: list[str] = field(default_factory=list)  # refused: not 127.0.0.1
    errors: list[str] = field(default_factory=list)  # uncaught exceptions, console errors


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"simkeep exited with {server.returncode}:\n{log.read_text()}")
        try:
            response = httpx.get(f"{base_url}/healthz", timeout=1.0)
        except httpx.TransportError as error:
            last = repr(error)
        else:
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text}"
        time.sleep(0.1)
    pytest.fail(f"/healthz did not answer 200 in {STARTUP_TIMEOUT_S}s ({last}):\n{log.read_text()}")


def _server_env(database: Path, base_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIMKEEP_ENVIRONMENT": "test",
        "SIMKEEP_DATABASE_URL": f"sqlite:///{database}",
        "SIMKEEP_DEFAULT_LOCALE": "zh_Hant_HK",
        "SIMKEEP_PUBLIC_URL": base_url,
        "SIMKEEP_RUN_JOBS": "true",
    }


@contextmanager
def serve(workdir: Path, database: Path, port: int) -> Iterator[str]:
    """The real app under uvicorn in a child process; yields its base URL."""
    log = workdir / "server.log"
    base_url = f"http://{HOST}:{port}"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "simkeep.app:asgi",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            command,
            env=_server_env(database, base_url),
            cwd=workdir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(base_url, server, log)
        yield base_url
    finally:
        server.terminate()  # SIGTERM: uvicorn shuts down gracefully, running the lifespan
        try:
            server.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def live_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on an empty (migrated) database; yields its base URL."""
    workdir = tmp_path_factory.mktemp("live_server")
    database = workdir / "simkeep.db"
    shutil.copy(sqlite_template, database)
    with serve(workdir, database, _free_port()) as base_url:
        yield base_url


@dataclass(frozen=True)
class DemoSite:
    """The demo server's base URL and its working directory (``var/`` holds the demo's
    printed vouchers, ``var/demo-vouchers.csv``)."""

    base_url: str
    workdir: Path


@pytest.fixture(scope="module")
def demo_site(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoSite]:
    """The real app on the demo data (``simkeep demo seed``): SIMs, an FX rate, the demo
    logins with the top-ups they paid at the simulators over the past weeks, the outlets,
    their agents and clerks, and the demo vouchers."""
    workdir = tmp_path_factory.mktemp("demo_server")
    database = workdir / "simkeep.db"
    shutil.copy(sqlite_template, database)
    port = _free_port()
    seed = subprocess.run(
        [str(Path(sys.executable).with_name("simkeep")), "demo", "seed"],
        env=_server_env(database, f"http://{HOST}:{port}"),
        cwd=workdir,
        capture_output=True,
        check=False,
    )
    assert seed.returncode == 0, seed.stdout.decode() + seed.stderr.decode()
    with serve(workdir, database, port) as base_url:
        yield DemoSite(base_url, workdir)


@pytest.fixture(scope="module")
def demo_server(demo_site: DemoSite) -> str:
    """The demo server's base URL."""
    return demo_site.base_url


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium. Missing: a failure in CI (``CI=true``), a skip elsewhere."""
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} not found: install it with "
            "`apt-get install -y chromium fonts-noto-cjk` (or `make browser-deps`)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """Where screenshots go: ``$SIMKEEP_SCREENSHOTS``, else ``var/screenshots``."""
    directory = Path(os.environ.get("SIMKEEP_SCREENSHOTS", str(SCREENSHOTS)))
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextmanager
def open_tab(
    browser: Browser, base_url: str, viewport: ViewportSize, *, mobile: bool, locale: str
) -> Iterator[Tab]:
    """A page in a new context (no cookies) that may reach only the live server."""
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,
        device_scale_factor=3 if mobile else 1,
        is_mobile=mobile,
        has_touch=mobile,
        user_agent=PHONE_USER_AGENT if mobile else None,
        locale=locale,  # also the Accept-Language header
    )
    try:
        page = context.new_page()
        tab = Tab(page)

        def guard(route: Route) -> None:
            if urlsplit(route.request.url).hostname == HOST:
                route.continue_()
            else:
                tab.outside_requests.append(route.request.url)
                route.abort()

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                tab.errors.append(f"console: {message.text}")

        context.route("**/*", guard)
        page.on("console", console)
        page.on("pageerror", lambda error: tab.errors.append(f"page error: {error}"))
        yield tab
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser, live_server: str) -> Iterator[Tab]:
    """A 390×844 touch phone whose browser asks for English."""
    with open_tab(
        browser, live_server, {"width": 390, "height": 844}, mobile=True, locale="en-GB"
    ) as tab:
        yield tab


@pytest.fixture
def desktop(browser: Browser, live_server: str) -> Iterator[Tab]:
    """A 1280×900 desktop window whose browser asks for English."""
    with open_tab(
        browser, live_server, {"width": 1280, "height": 900}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab
