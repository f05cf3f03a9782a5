"""The HTTP server of ``picpaygo serve``: Granian, through its ASGI interface, on uvloop.

Granian's main process binds the port and starts one API process per ``--workers``; each
builds the app (``entrypoints.asgi:app``) and runs its lifespan (and its job workers). On
SIGTERM each process stops accepting, lets the requests under way finish, then ends its
lifespan. The wire limits are Granian's own settings:

- ``HEADER_TIMEOUT_SECONDS``: HTTP/1 header read timeout. A connection that has not sent a
  complete request head that long after it opened, or after its last answer, is closed
  (slow-header attacks, idle keep-alive connections).
- A request head over ``MAX_REQUEST_HEAD_BYTES``, or with more than 100 header fields, is
  answered 431 and the connection closed. The size is the HTTP/1 read buffer's limit, so a
  connection never holds more than that of an unfinished head; the field count is the
  parser's own fixed limit.
- ``MAX_CONNECTIONS``: Granian's backpressure, the most connections one process holds at
  once. Past it, new connections are not refused: they wait, unaccepted, in the listen
  backlog until a held one closes. Requests still receiving their body hold at most half
  of them (``body_deadline`` sheds the oldest), so slow bodies never make new clients
  wait. Unfinished heads are not shed: Granian keeps a place for a connection from
  before it accepts it until it closes, and closes an unfinished head only at the
  header timeout, with no setting to do otherwise.
- Only HTTP/1: an HTTP/2 connection would not be bound by the HTTP/1 limits above.

With several processes, ``/metrics`` adds up all of them when ``PROMETHEUS_MULTIPROC_DIR``
names a directory for their values (prometheus-client's multiprocess mode, which it
chooses when first imported: the variable must be set before ``picpaygo serve`` starts).
Its old files are removed at start-up.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.log import LogLevels

from adapters.metrics.prometheus import MULTIPROCESS_DIRECTORY
from entrypoints import logs
from entrypoints.settings import Settings

MAX_REQUEST_HEAD_BYTES = 16 * 1024

logger = logging.getLogger("picpaygo.server")


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve the API on ``host:port`` with ``workers`` processes until SIGTERM or SIGINT."""
    server_settings = settings.server
    server = Granian(
        "entrypoints.asgi:app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        backpressure=server_settings.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=round(server_settings.header_timeout_seconds * 1000),
            max_buffer_size=MAX_REQUEST_HEAD_BYTES,
        ),
        log_level=LogLevels(server_settings.log_level.lower()),
        log_dictconfig=logs.SERVER_LOGGING,
        factory=True,
    )
    if workers > 1:
        share_metrics()
    server.serve()


def share_metrics() -> None:
    """Make the multiprocess metrics directory empty, or say that ``/metrics`` will not add
    up."""
    name = os.environ.get(MULTIPROCESS_DIRECTORY)
    if not name:
        logger.warning(
            "%s is not set: /metrics shows the process that answers it, not all of them",
            MULTIPROCESS_DIRECTORY,
        )
        return
    directory = Path(name)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink()
