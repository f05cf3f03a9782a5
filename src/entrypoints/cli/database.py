"""``picpaygo db``: database maintenance."""

from __future__ import annotations

import click

from entrypoints.cli.context import CliContext
from entrypoints.cli.output import emit, json_option, pass_context


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@json_option
@pass_context
def migrate(context: CliContext, as_json: bool) -> None:
    """Apply pending schema migrations; safe to run concurrently."""
    context.require_shared_storage("db migrate")
    names = context.run(context.storage.migrate, check_schema=False, creates_database=True)
    emit(
        as_json,
        {"applied": names},
        "\n".join(f"applied {name}" for name in names) or "the schema is up to date",
    )
