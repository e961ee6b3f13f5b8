"""A TCP proxy that puts network faults between a client and a server on one host.

Design overview
---------------
The harness places a ``FaultyProxy`` between simkeep and PostgreSQL, and between the payment
simulators and simkeep, and turns faults on and off while the workload runs:

``delay``
    Latency. Each direction has a reader that stamps every chunk (up to 64 KiB) with the time
    it arrived and queues it, and a writer that sends it once that time plus the delay has
    passed. Chunks keep their order and many may be in flight, so a delay adds itself once to
    each chunk rather than piling up behind the chunks before it. At most 16 chunks wait per
    direction; past that the reader stops reading, and TCP's flow control slows the sender.
``drop``
    Connections cut. Every open connection is reset on both sides (``SO_LINGER`` 0, so the
    peers get an RST, not a FIN) and each new one is accepted and reset at once.
``half_open``
    A partition. Connections stay open and new ones are accepted (and not passed on), but the
    writers forward nothing, so both peers see silence: no data, no FIN, no RST. When the
    partition ends, every connection it stalled is reset, as the peers' TCP state would be
    lost by then; what they had sent meanwhile is never delivered.
``heal``
    Forwarding as normal again. Leaving ``half_open`` for any fault resets the stalled
    connections the same way.

A FIN from either peer ends the connection for both: what was read from that peer is
delivered, then both sides are closed. The protocols proxied here (PostgreSQL's, HTTP/1.1)
never half-close a connection.

The proxy runs on an event loop in a daemon thread of its own, so the harness's threads,
whatever they run, drive it through blocking calls; each change runs on that loop as one
step, so no connection sees half of it. Every connection is one task with four children,
and each way it can end (EOF, a reset, a target that refuses, a fault, ``stop``) closes both
sockets and cancels that task, which ends its children: nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass
from enum import StrEnum

CHUNK = 64 * 1024
QUEUED_CHUNKS = 16
BACKLOG = 512  # the harness opens a few hundred connections at once
CONTROL_TIMEOUT = 10.0  # seconds a control call waits for the proxy's loop
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST


class Fault(StrEnum):
    NONE = "none"
    DELAY = "delay"
    DROP = "drop"
    HALF_OPEN = "half_open"


@dataclass(eq=False)
class _Link:
    """One client connection, its upstream connection once open, and the task serving both."""

    client: asyncio.StreamWriter
    task: asyncio.Task[None]
    upstream: asyncio.StreamWriter | None = None


Chunks = asyncio.Queue[tuple[float, bytes]]  # (loop time it arrived, data); b"" is EOF


class FaultyProxy:
    """Listens on ``host``:``listen_port`` and forwards to ``host``:``target_port``."""

    def __init__(
        self, name: str, *, listen_port: int, target_port: int, host: str = "127.0.0.1"
    ) -> None:
        self.name = name
        self.listen_port = listen_port
        self.target_port = target_port
        self.host = host
        self._fault = Fault.NONE
        self._delay = 0.0
        self._flowing = asyncio.Event()  # clear while half-open: the writers wait on it
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def fault(self) -> Fault:
        return self._fault

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._links)

    def start(self) -> None:
        """Start forwarding, without faults; returns once the proxy listens."""
        if self._thread is not None:
            raise RuntimeError(f"proxy {self.name} is already running")
        self._fault, self._delay = Fault.NONE, 0.0
        self._flowing = asyncio.Event()  # bound to the new loop when first awaited
        self._flowing.set()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_forever, args=(loop,), name=f"proxy-{self.name}", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), loop).result(CONTROL_TIMEOUT)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            raise
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        """Stop listening, reset every connection and end the proxy's thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(CONTROL_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            self._loop = self._thread = self._server = None

    def delay(self, seconds: float) -> None:
        """From now on each chunk, either way, is forwarded ``seconds`` after it arrived."""
        if seconds < 0:
            raise ValueError(f"a delay cannot be negative: {seconds}")
        self._control(Fault.DELAY, seconds)

    def drop(self) -> None:
        """Reset every open connection, and each new one, until ``heal``."""
        self._control(Fault.DROP)

    def half_open(self) -> None:
        """Forward nothing either way, closing nothing, until ``heal`` resets what stalled."""
        self._control(Fault.HALF_OPEN)

    def heal(self) -> None:
        """Forward as normal again."""
        self._control(Fault.NONE)

    def _control(self, fault: Fault, delay: float = 0.0) -> None:
        if self._loop is None:
            raise RuntimeError(f"proxy {self.name} is not running")
        future = asyncio.run_coroutine_threadsafe(self._set(fault, delay), self._loop)
        future.result(CONTROL_TIMEOUT)

    async def _set(self, fault: Fault, delay: float) -> None:
        leaves_partition = self._fault is Fault.HALF_OPEN and fault is not Fault.HALF_OPEN
        if fault is Fault.DROP or leaves_partition:
            for link in list(self._links):
                self._close(link, reset=True)
        self._fault, self._delay = fault, delay
        if fault is Fault.HALF_OPEN:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.listen_port, backlog=BACKLOG
        )

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        tasks = [link.task for link in self._links]
        for link in list(self._links):
            self._close(link, reset=True)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._fault is Fault.DROP:
            _shut(writer, reset=True)
            return
        task = asyncio.current_task()
        assert task is not None  # a connection is always served by a task
        link = _Link(writer, task)
        self._links.add(link)
        try:
            # OSError: the target refused, or a peer reset. CancelledError: ``_close`` ended
            # the link; the task must still end normally, as Python 3.11's streams report a
            # cancelled connection task as an error.
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await self._forward(link, reader)
        finally:
            self._close(link, reset=True)

    async def _forward(self, link: _Link, client: asyncio.StreamReader) -> None:
        if self._fault is Fault.HALF_OPEN:
            # Partitioned from the start: held, silent, until leaving the partition resets it.
            await asyncio.get_running_loop().create_future()
        upstream, link.upstream = await asyncio.open_connection(self.host, self.target_port)
        async with asyncio.TaskGroup() as group:
            for reader, writer in ((client, link.upstream), (upstream, link.client)):
                chunks: Chunks = asyncio.Queue(QUEUED_CHUNKS)
                group.create_task(self._receive(link, reader, chunks))
                group.create_task(self._deliver(link, chunks, writer))

    async def _receive(self, link: _Link, reader: asyncio.StreamReader, chunks: Chunks) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(CHUNK):
                await chunks.put((loop.time(), data))
        except OSError:
            self._close(link, reset=True)  # a reset on one side resets the other
            return
        await chunks.put((loop.time(), b""))

    async def _deliver(self, link: _Link, chunks: Chunks, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                arrived, data = await chunks.get()
                if not data:
                    break
                wait = arrived + self._delay - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            self._close(link, reset=True)
            return
        self._close(link, reset=False)  # EOF, after what came before it: a FIN both ways

    def _close(self, link: _Link, *, reset: bool) -> None:
        """Close both of a link's sockets and end its task (any number of times)."""
        self._links.discard(link)
        if link.task is not asyncio.current_task():
            link.task.cancel()
        for writer in (link.client, link.upstream):
            if writer is not None and not writer.transport.is_closing():
                _shut(writer, reset=reset)


def _shut(writer: asyncio.StreamWriter, *, reset: bool) -> None:
    """Close a socket: with an RST at once, or with a FIN once what was written is sent."""
    if not reset:
        writer.close()
        return
    sock = writer.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)
    writer.transport.abort()


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()
