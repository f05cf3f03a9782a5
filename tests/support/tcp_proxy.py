"""A TCP proxy on a loopback port, to take a database away from a running service and back.

``TcpProxy(host, port)`` listens on a free loopback port and forwards every connection
to ``host:port``. Tests point a service at the proxy instead of the real server, then:

- ``cut()``: close every forwarded connection at once and reset each new one as soon as
  it is accepted, as if the database went down (connecting fails fast, it never hangs);
- ``stall()``: keep every connection open but forward nothing, as if the network
  between the service and the database went silent (no error, no answer);
- ``restore()``: forward again (a stalled connection resumes where it stopped).

It also counts round trips (``flights``): each run of data a client sends on one
connection after it last received some counts once, so statements sent together in one
pipeline are one round trip (``bench/run.py`` counts the same way, with strace).

The real server is never touched, so other tests sharing it carry on. The proxy runs
an asyncio loop in a daemon thread; its methods are called from the test's thread and
return once the change is in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
CHUNK_BYTES = 64 * 1024
COMMAND_TIMEOUT_SECONDS = 10.0


class TcpProxy:
    """Forwards connections from ``127.0.0.1:<port>`` to ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0  # connections accepted so far, forwarded or not
        self.flights = 0  # round trips clients started so far, over every connection
        self._mode = "open"  # "open", "cut" or "stall"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing: asyncio.Event | None = None

    # --- the test's side ---------------------------------------------------------------

    def start(self) -> None:
        """Listen on a free loopback port (``self.port``) and start forwarding."""
        self._thread.start()
        self._call(self._start())

    def close(self) -> None:
        """Stop listening, drop every connection and stop the proxy's thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=COMMAND_TIMEOUT_SECONDS)
        self._loop.close()

    def cut(self) -> None:
        """Close every current connection and reset every new one until ``restore()``."""
        self._call(self._set_mode("cut"))

    def stall(self) -> None:
        """Forward nothing (connections stay open, new ones are held) until ``restore()``."""
        self._call(self._set_mode("stall"))

    def restore(self) -> None:
        """Forward connections again."""
        self._call(self._set_mode("open"))

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def open_connections(self) -> int:
        """Connections being forwarded right now."""
        return self._call(self._count())

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(database_url)
        userinfo, _, _ = parts.netloc.rpartition("@")
        netloc = f"{userinfo}@{LOOPBACK}:{self.port}" if userinfo else f"{LOOPBACK}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @classmethod
    def to_database(cls, database_url: str) -> TcpProxy:
        """A proxy (not started) to the host and port of ``database_url``."""
        parts = urlsplit(database_url)
        return cls(parts.hostname or LOOPBACK, parts.port or 5432)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=COMMAND_TIMEOUT_SECONDS)

    # --- the proxy's thread ------------------------------------------------------------

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        await self._set_mode("cut")  # releases held connections, drops forwarded ones
        if self._server is not None:
            self._server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _set_mode(self, mode: str) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode == "cut":
            for link in list(self._links):
                link.abort()
            self._links.clear()
        if mode == "stall":
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _count(self) -> int:
        return len(self._links)

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        assert self._flowing is not None
        self.accepted += 1
        await self._flowing.wait()  # held while stalled
        if self._mode == "cut":
            _reset(client)
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            _reset(client)
            return
        link = _Link(client, upstream)
        if self._mode == "cut":  # cut while connecting
            link.abort()
            return
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream, link, from_client=True),
                self._pump(upstream_reader, client, link, from_client=False),
            )
        finally:
            link.abort()
            self._links.discard(link)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: _Link,
        *,
        from_client: bool,
    ) -> None:
        """Copy one direction until either side closes; then close both."""
        assert self._flowing is not None
        try:
            while data := await reader.read(CHUNK_BYTES):
                if from_client and not link.sending:
                    self.flights += 1
                link.sending = from_client
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()


class _Link:
    """One forwarded connection: the client's side and the upstream side."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.sending = False  # the client sent last (its round trip has not been answered)

    def abort(self) -> None:
        _reset(self.client)
        _reset(self.upstream)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close at once with a TCP reset, as a crashed peer would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
