"""What ``picpaygo serve`` needs around the HTTP server (``entrypoints.http.server``): the
address check, the log set-up every server process shares, and the event loop of
long-running commands."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

from entrypoints import logs
from entrypoints.settings import Settings, secret_values


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the API server runs on it too), else None:
    asyncio's own. It costs the job worker about a tenth less CPU per job."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return None
    return uvloop.new_event_loop


def address_refusal(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, not ours), or None if it can.

    Binds as the server will (``SO_REUSEADDR``), then lets go at once.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return f"cannot listen on {host}:{port}: {exc} (choose the interface with --host or HOST)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"cannot listen on {host}:{port}: the address is already in use "
                    "(choose another port with --port or PORT)"
                )
            return (
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(choose another with --host/HOST or --port/PORT)"
            )
    return None


def configure_logging(settings: Settings) -> None:
    """Log lines in ``LOG_FORMAT`` at ``LOG_LEVEL`` on stderr, with every secret setting
    (keys, the database URL's password) masked."""
    server = settings.server
    logs.configure_logging(server.log_level, server.log_format, secret_values(settings))
