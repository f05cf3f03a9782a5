"""``picpaygo serve`` and ``picpaygo worker``: the HTTP API and the job workers."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from entrypoints.announcements import announce_profile
from entrypoints.cli.context import CliContext, fail
from entrypoints.cli.output import pass_context
from entrypoints.cli.serving import address_refusal, configure_logging
from entrypoints.container import build_worker_pool
from entrypoints.http import server as http_server


@click.command()
@click.option("--host", default=None, help="Interface to bind [HOST, default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to bind [PORT, default 8081].")
@click.option("--workers", type=int, default=1, show_default=True, help="API processes.")
@pass_context
def serve(context: CliContext, host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP API."""
    settings = context.settings
    if workers > 1:
        context.require_shared_storage("serve --workers > 1")
    host, port = host or settings.server.host, port or settings.server.port
    # Checked before the database is prepared, so a busy port is said at once, in one line.
    refusal = address_refusal(host, port)
    if refusal is not None:
        fail(refusal)
    configure_logging(settings)
    announce_profile(context.container)
    # The embedded server stays up from here until the API processes have all stopped.
    with context.kept_storage():
        if context.storage.shared:
            # Migrate (or check the schema) once here, before the API processes start.
            context.run(_nothing, long_running=True, creates_database=True)
        http_server.serve(settings, host, port, workers)


async def _nothing() -> None:
    return None


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Jobs worked on at once [JOB_WORKERS, at least 1].",
)
@pass_context
def worker(context: CliContext, concurrency: int | None) -> None:
    """Run job workers without the HTTP API until SIGTERM or Ctrl-C."""
    settings = context.settings
    context.require_shared_storage("worker")
    configure_logging(settings)
    announce_profile(context.container)
    size = concurrency or max(settings.jobs.workers, 1)

    async def work_until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        pool = build_worker_pool(context.container, size)
        pool.start()
        try:
            await stop.wait()
        finally:
            logging.getLogger("picpaygo").info("stopping job workers")
            await pool.stop()

    context.run(work_until_stopped, listen=True, long_running=True, creates_database=True)
