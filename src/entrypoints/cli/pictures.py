"""``picpaygo pictures``: where picture bytes live, and moving them to an object store."""

from __future__ import annotations

import click

from entrypoints.cli.context import EXIT_USAGE, CliContext, fail
from entrypoints.cli.output import emit, json_option, pass_context
from entrypoints.pictures import picture_store_kind
from picpaygo_core.ports import PictureStore
from picpaygo_core.services.pictures import MigrationProgress, PictureMigration

NO_STORE = (
    "picpaygo pictures migrate needs PICTURE_STORE=s3://bucket[/prefix] (and S3_ENDPOINT_URL "
    "and credentials as the service uses them): pictures are moved there from the database"
)
# A progress line after this many pictures (and after the last one).
PROGRESS_EVERY = 25


@click.group()
def pictures() -> None:
    """Where picture bytes live: move them from the database to an object store."""


@pictures.command("migrate")
@json_option
@pass_context
def pictures_migrate(context: CliContext, as_json: bool) -> None:
    """Move every picture held in the database to PICTURE_STORE.

    Each picture is written to the store and its size read back before the database's
    copy is deleted, so the command can be stopped at any time and run again: it goes on
    with what is left, and a picture already moved is not moved twice.
    """
    container = context.shared("pictures migrate")
    if picture_store_kind(context.settings) != "s3":
        fail(NO_STORE, EXIT_USAGE)
    source: PictureStore = context.storage.picture_store
    target: PictureStore = container.pictures()
    click.echo(f"moving pictures from the database to {target.description}", err=True)

    printed = 0

    def report(progress: MigrationProgress) -> None:
        # Called after every picture, moved or not: a line per PROGRESS_EVERY moved.
        nonlocal printed
        if progress.moved and progress.moved != printed and progress.moved % PROGRESS_EVERY == 0:
            printed = progress.moved
            click.echo(_progress_line(progress), err=True)

    migration = PictureMigration(source=source, target=target)
    done = context.run(lambda: migration.run(report))
    payload = {"moved": done.moved, "bytes": done.bytes, "mismatched": done.mismatched}
    emit(as_json, payload, _progress_line(done) + ("" if done.mismatched else "; done"))
    if done.mismatched:
        fail(f"{done.mismatched} pictures were copied with another size; they stay in the database")


def _progress_line(progress: MigrationProgress) -> str:
    megabytes = progress.bytes / (1024 * 1024)
    return f"moved {progress.moved} pictures ({megabytes:.1f} MB)"
