"""The fault proxy in front of an echo server that records what reaches it: data passes both
ways; a delay holds each direction at least that long; a drop resets open connections and
refuses new ones until healed; a partition leaves connections open but silent, and healing
it closes them; a target that is down closes the client's connection and nothing else; stop
ends every connection and the proxy's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from chaos.ports import free_port
from chaos.proxy import Fault, FaultyProxy

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Echo:
    """An echo server; ``received`` is every byte that reached it."""

    server: asyncio.Server
    received: bytearray = field(default_factory=bytearray)

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])


async def start_echo(port: int = 0) -> Echo:
    received = bytearray()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                received.extend(data)
                writer.write(data)
                await writer.drain()
        except ConnectionResetError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    return Echo(server, received)


@pytest_asyncio.fixture
async def echo() -> AsyncIterator[Echo]:
    echo = await start_echo()
    yield echo
    echo.server.close()


@pytest.fixture
def proxy(echo: Echo) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy("echo", listen_port=free_port(), target_port=echo.port)
    proxy.start()
    yield proxy
    proxy.stop()


async def connect(proxy: FaultyProxy) -> Client:
    return await asyncio.open_connection("127.0.0.1", proxy.listen_port)


async def round_trip(client: Client, data: bytes = b"ping") -> bytes:
    reader, writer = client
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), 5)


async def assert_closed(client: Client) -> None:
    """The connection ends (EOF or reset) without a byte more."""
    try:
        data = await asyncio.wait_for(client[0].read(1), 5)
    except ConnectionResetError:
        return
    assert data == b""


async def assert_refused(proxy: FaultyProxy) -> None:
    """A new connection is accepted and closed at once: the reset may even come before the
    client's connect call has seen the connection made."""
    try:
        reader, writer = await connect(proxy)
    except ConnectionResetError:
        return
    writer.write(b"lost")
    await assert_closed((reader, writer))
    writer.close()


async def assert_silent(client: Client) -> None:
    """Nothing comes back, and the connection stays open."""
    reader, writer = client
    writer.write(b"anyone?")
    await writer.drain()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.3)
    assert not reader.at_eof()


async def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_data_passes_both_ways_and_a_peer_closing_ends_the_connection(
    proxy: FaultyProxy, echo: Echo
) -> None:
    client = await connect(proxy)
    assert await round_trip(client) == b"ping"
    large = bytes(range(256)) * 4096  # 1 MiB: many reads of 64 KiB, either way
    assert await round_trip(client, large) == large
    assert proxy.connections == 1
    assert proxy.fault is Fault.NONE

    client[1].close()
    await eventually(lambda: proxy.connections == 0)
    assert echo.received == b"ping" + large


async def test_a_delay_holds_each_direction_and_keeps_the_order(proxy: FaultyProxy) -> None:
    client = await connect(proxy)
    await round_trip(client)

    proxy.delay(0.2)
    assert proxy.fault is Fault.DELAY
    started = time.monotonic()
    reader, writer = client
    for piece in (b"one ", b"two ", b"three"):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.02)
    assert await asyncio.wait_for(reader.readexactly(13), 5) == b"one two three"
    assert time.monotonic() - started >= 0.4  # there and back again

    proxy.heal()
    assert proxy.fault is Fault.NONE
    assert await round_trip(client) == b"ping"
    writer.close()


async def test_a_drop_resets_connections_and_refuses_new_ones_until_healed(
    proxy: FaultyProxy, echo: Echo
) -> None:
    client = await connect(proxy)
    await round_trip(client)

    proxy.drop()
    assert proxy.fault is Fault.DROP
    await assert_closed(client)
    assert proxy.connections == 0
    await assert_refused(proxy)
    assert proxy.connections == 0

    proxy.heal()
    healed = await connect(proxy)
    assert await round_trip(healed) == b"ping"
    assert echo.received == b"pingping"  # nothing sent during the drop arrived
    for _, writer in (client, healed):
        writer.close()


async def test_a_partition_is_silence_and_healing_it_closes_what_stalled(
    proxy: FaultyProxy, echo: Echo
) -> None:
    before = await connect(proxy)
    await round_trip(before)

    proxy.half_open()
    assert proxy.fault is Fault.HALF_OPEN
    await assert_silent(before)
    during = await connect(proxy)
    await assert_silent(during)
    assert proxy.connections == 2
    assert echo.received == b"ping"  # the server heard nothing either

    proxy.heal()
    await assert_closed(before)
    await assert_closed(during)
    assert proxy.connections == 0
    after = await connect(proxy)
    assert await round_trip(after) == b"ping"
    assert echo.received == b"pingping"  # what stalled was never delivered
    for _, writer in (before, during, after):
        writer.close()


async def test_a_target_that_is_down_closes_the_client_and_the_proxy_carries_on() -> None:
    port = free_port()
    proxy = FaultyProxy("down", listen_port=free_port(), target_port=port)
    proxy.start()
    try:
        for _ in range(3):
            await assert_refused(proxy)
        await eventually(lambda: proxy.connections == 0)

        echo = await start_echo(port)  # the target comes back
        try:
            client = await connect(proxy)
            assert await round_trip(client) == b"ping"
            client[1].close()
        finally:
            echo.server.close()
    finally:
        proxy.stop()


async def test_stop_closes_every_connection_and_ends_the_thread(echo: Echo) -> None:
    proxy = FaultyProxy("stopping", listen_port=free_port(), target_port=echo.port)
    proxy.start()
    forwarding = await connect(proxy)
    await round_trip(forwarding)
    proxy.half_open()
    stalled = await connect(proxy)
    await eventually(lambda: proxy.connections == 2)

    proxy.stop()
    await assert_closed(forwarding)
    await assert_closed(stalled)
    assert "proxy-stopping" not in {thread.name for thread in threading.enumerate()}
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)
    with pytest.raises(RuntimeError, match="not running"):
        proxy.heal()
    for _, writer in (forwarding, stalled):
        writer.close()
