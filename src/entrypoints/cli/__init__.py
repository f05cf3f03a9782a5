"""The ``picpaygo`` command: run the service and adjust credits from scripts.

Every command prints a human line, or JSON with ``--json``; it exits 0 on success and
non-zero with its error on stderr otherwise (one line per problem). ``main`` holds the
group, ``context`` what commands share, ``output`` how they print, ``serving`` how the
HTTP server runs; each other module is one group of commands.
"""

from entrypoints.cli.context import CliContext
from entrypoints.cli.main import cli, main
from entrypoints.cli.serving import configure_logging

__all__ = ["CliContext", "cli", "configure_logging", "main"]
