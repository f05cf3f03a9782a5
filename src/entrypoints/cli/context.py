"""What every command shares: the settings, the container, the database, and how a
command stops with its error on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import click
import psycopg
from psycopg import conninfo

from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.storage import SchemaOutOfDate
from entrypoints.cli.serving import fast_loop_factory
from entrypoints.container import Container, StorageFamily, build_container, running_resources
from entrypoints.settings import Settings, SettingsError, load_settings
from picpaygo_core.errors import DomainError, StorageUnavailable
from picpaygo_core.services import AdminService, PurchaseService

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_USAGE = 2

NEEDS_DATABASE = (
    "{command} needs a database: with DATABASE_URL=memory:// it cannot reach a running "
    "server's data (each process has its own memory); unset DATABASE_URL for the embedded one"
)
NO_EMBEDDED_DATABASE = (
    "there is no database in {data_dir}: set PICPAYGO_DATA_DIR to the data directory "
    "of your server (`picpaygo serve` or `picpaygo db migrate` creates one)"
)


class CliContext:
    """What every command shares: the settings and a way to build the container."""

    def __init__(
        self,
        environ: Mapping[str, str],
        container_factory: Callable[[Settings], Container] = build_container,
        allow_memory_admin: bool = False,
    ) -> None:
        self._environ = environ
        self._container_factory = container_factory
        self.allow_memory_admin = allow_memory_admin
        self._settings: Settings | None = None
        self._container: Container | None = None
        self._data_dir_named = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self._environ)
            except SettingsError as exc:
                fail_with(exc.problems, EXIT_USAGE)
        return self._settings

    @property
    def container(self) -> Container:
        if self._container is None:
            self._container = self._container_factory(self.settings)
        return self._container

    @property
    def storage(self) -> StorageFamily:
        storage: StorageFamily = self.container.storage()
        return storage

    @contextlib.contextmanager
    def kept_storage(self) -> Iterator[None]:
        """The storage's server kept up while the block runs (see ``StorageFamily.kept``)."""
        try:
            with self.storage.kept():
                yield
        except DomainError as exc:
            fail(exc.message)

    def shared(self, command: str) -> Container:
        """The container for a maintenance ``command``, refused (one line) where it could
        only touch this process's memory."""
        if not self.allow_memory_admin:
            self.require_shared_storage(command)
        return self.container

    def admin(self, command: str) -> AdminService:
        """The admin use cases, refused like ``shared`` on this process's own memory."""
        service: AdminService = self.shared(command).admin_service()
        return service

    def purchases(self, command: str) -> PurchaseService:
        """The purchase use cases, refused like ``shared`` on this process's own memory."""
        service: PurchaseService = self.shared(command).purchase_service()
        return service

    def require_shared_storage(self, command: str) -> None:
        """Stop with one line when ``command`` would only see this process's memory."""
        if not self.storage.shared:
            fail(NEEDS_DATABASE.format(command=f"picpaygo {command}"), EXIT_USAGE)

    def run(
        self,
        use_case: Callable[[], Coroutine[Any, Any, T]],
        *,
        listen: bool = False,
        check_schema: bool = True,
        long_running: bool = False,
        creates_database: bool = False,
    ) -> T:
        """Run ``use_case`` with the database open, turning failures into one stderr line.

        One-shot commands (``long_running`` false) keep library logging off stderr, so a
        failure is exactly one line, and name the embedded database's directory first.
        Only a command that ``creates_database`` may start an embedded one where there
        is none.
        """
        if not long_running:
            silence_library_logging()
        self._check_embedded(creates_database=creates_database, name_it=not long_running)

        async def within_resources() -> T:
            async with running_resources(
                self.container,
                listen=listen,
                check_schema=check_schema,
                long_running=long_running,
            ):
                return await use_case()

        try:
            with asyncio.Runner(loop_factory=fast_loop_factory() if long_running else None) as r:
                return r.run(within_resources())
        except StorageUnavailable as exc:
            fail(self._unavailable(exc))
        except DomainError as exc:
            fail(exc.message)
        except SchemaOutOfDate as exc:
            fail(str(exc))

    def _check_embedded(self, *, creates_database: bool, name_it: bool) -> None:
        """Refuse to make a new embedded database unless asked to; name the one used."""
        database = self.settings.database
        if database.url is not None:
            return
        embedded = EmbeddedPostgres(database.data_dir)
        if not creates_database and not embedded.exists:
            fail(NO_EMBEDDED_DATABASE.format(data_dir=embedded.data_dir), EXIT_USAGE)
        if name_it and not self._data_dir_named:
            self._data_dir_named = True
            click.echo(f"using the {embedded.description} (PICPAYGO_DATA_DIR)", err=True)

    def _unavailable(self, exc: StorageUnavailable) -> str:
        """``exc``'s message, saying which database could not be used (never its password)."""
        database = self.settings.database
        if database.url is None:
            where = EmbeddedPostgres(database.data_dir).description
            return exc.message if where in exc.message else f"{exc.message} ({where})"
        if database.in_memory:
            return exc.message
        return f"{exc.message} ({postgres_address(database.url)})"


def postgres_address(url: str) -> str:
    """Which server and database ``url`` names: host, port and database name only."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "the PostgreSQL server of DATABASE_URL"
    host = parts.get("host") or "the local socket"
    port = parts.get("port") or "5432"
    name = parts.get("dbname") or parts.get("user") or "postgres"
    return f"PostgreSQL database {name} at {host}, port {port}"


def silence_library_logging() -> None:
    """Keep log records (the pool's connection warnings, ...) off a one-shot command's stderr.

    Without any handler, Python prints warnings through its last-resort handler.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


class CliFailure(click.ClickException):
    """A refused or failed command: its lines go to stderr, as JSON with ``--json``."""

    def __init__(self, lines: Sequence[str], exit_code: int, *, as_json: bool) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance
        self.as_json = as_json

    def show(self, file: Any = None) -> None:
        click.echo(error_text(self.lines, as_json=self.as_json), err=True)


def error_text(lines: Sequence[str], *, as_json: bool) -> str:
    """``error: <line>`` for each line, or ``{"error": "<lines>"}`` on one line.

    Each line is one problem and stays one line, whatever it held. Text that came from
    undecodable arguments is shown with escapes, never crashing.
    """
    lines = [" ".join(line.split()) for line in lines]
    if as_json:
        return json.dumps({"error": "\n".join(lines)})
    text = "\n".join(f"error: {line}" for line in lines)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Stop the command: one line on stderr (JSON under ``--json``) and exit ``code``
    (1 for a refused or failed operation, 2 for a usage or configuration error)."""
    fail_with([message], code)


def fail_with(problems: Sequence[str], code: int = EXIT_FAILURE) -> NoReturn:
    """Stop the command like ``fail``, with one line for each of ``problems``."""
    raise CliFailure(problems, code, as_json=_json_requested())


def _json_requested() -> bool:
    context = click.get_current_context(silent=True)
    while context is not None:
        if context.params.get("as_json"):
            return True
        context = context.parent
    return False
