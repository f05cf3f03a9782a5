"""The ``picpaygo`` command group and its console-script entry point."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import click

from entrypoints.cli.accounts import credits, users
from entrypoints.cli.context import EXIT_FAILURE, CliContext, CliFailure, error_text
from entrypoints.cli.database import db
from entrypoints.cli.mail import mail
from entrypoints.cli.output import pass_context
from entrypoints.cli.payments import payments
from entrypoints.cli.pictures import pictures
from entrypoints.cli.service import serve, worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="picpaygo", prog_name="picpaygo", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """PicPayGo: run the API and manage credits."""
    if ctx.obj is None:
        ctx.obj = CliContext(os.environ)


@cli.command()
@pass_context
def openapi(context: CliContext) -> None:
    """Print the HTTP API's OpenAPI document (JSON), as served at /api/docs/openapi.json."""
    from entrypoints.openapi_document import openapi_document

    click.echo(json.dumps(openapi_document(context.settings), indent=2, ensure_ascii=False))


for command in (serve, worker, db, users, credits, payments, mail, pictures):
    cli.add_command(command)


def main(args: Sequence[str] | None = None) -> None:
    """Console-script entry point: every error, click's usage errors included, is one line
    on stderr (JSON when ``--json`` is among the arguments), with exit code 1 or 2."""
    arguments = list(sys.argv[1:] if args is None else args)
    as_json = "--json" in arguments
    try:
        code = cli.main(args=arguments, obj=None, standalone_mode=False)
    except CliFailure as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo(error_text(["aborted"], as_json=as_json), err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:
        click.echo(error_text([exc.format_message()], as_json=as_json), err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # the last resort: no traceback for any input
        click.echo(
            error_text([f"unexpected failure ({type(exc).__name__}): {exc}"], as_json=as_json),
            err=True,
        )
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)
