"""Ending the live progress streams when the process is told to stop.

The server finishes the requests under way before it ends the app's lifespan, and a
stream lasts until its job ends: without this, one open stream would hold a SIGTERM'd
API process up for as long. The server's own SIGTERM handling is kept: the event loop
learns of the signal through its wake-up file descriptor, which does not depend on the
Python-level handler installed here; this handler only adds ending the streams and
then calls the one it replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from picpaygo_core.services.progress import JobProgressService


@contextlib.contextmanager
def streams_end_on_sigterm(progress: JobProgressService) -> Iterator[None]:
    """While the block runs, SIGTERM also ends every live progress stream of ``progress``.

    Outside the main thread (a test client's app) signals cannot be handled: nothing is
    installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(progress.stop_all)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            # Nobody else handles it: stop the process as the default would have.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)
