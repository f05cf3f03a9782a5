"""The ``picpaygo`` command: run the service and adjust credits from scripts.

Every command prints a human line, or JSON with ``--json``; it exits 0 on success and
non-zero with one line on stderr otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import getpass
import json
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import click
import msgspec

from adapters.postgres.storage import SchemaOutOfDate
from entrypoints import logs
from entrypoints.container import (
    Container,
    StorageFamily,
    announce_profile,
    build_container,
    build_worker_pool,
    running_resources,
)
from entrypoints.http import server as http_server
from entrypoints.settings import Settings, SettingsError, load_settings, secret_values
from picpaygo_core.errors import DomainError
from picpaygo_core.models import LedgerEntry, Purchase
from picpaygo_core.services import AdminService, PurchaseService
from picpaygo_core.services.admin import Account

T = TypeVar("T")
Adjustment = Callable[..., Coroutine[Any, Any, Account]]

EXIT_FAILURE = 1
EXIT_USAGE = 2

NEEDS_DATABASE = (
    "{command} needs a database: with DATABASE_URL=memory:// it cannot reach a running "
    "server's data (each process has its own memory); unset DATABASE_URL for the embedded one"
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

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self._environ)
            except SettingsError as exc:
                fail(str(exc), EXIT_USAGE)
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

    def admin(self, command: str) -> AdminService:
        """The admin use cases, refused where they could only touch this process's memory."""
        if not self.allow_memory_admin:
            self.require_shared_storage(command)
        service: AdminService = self.container.admin_service()
        return service

    def purchases(self, command: str) -> PurchaseService:
        """The purchase use cases, refused like ``admin`` on this process's own memory."""
        if not self.allow_memory_admin:
            self.require_shared_storage(command)
        service: PurchaseService = self.container.purchase_service()
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
    ) -> T:
        """Run ``use_case`` with the database open, turning failures into one stderr line.

        One-shot commands (``long_running`` false) keep library logging off stderr, so a
        failure is exactly one line.
        """
        if not long_running:
            silence_library_logging()

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
        except DomainError as exc:
            fail(exc.message)
        except SchemaOutOfDate as exc:
            fail(str(exc))


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the API server runs on it too), else None:
    asyncio's own. It costs the job worker about a tenth less CPU per job."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return None
    return uvloop.new_event_loop


class CliFailure(click.ClickException):
    """A refused or failed command: its message goes to stderr, as JSON with ``--json``."""

    def __init__(self, message: str, exit_code: int, *, as_json: bool) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance
        self.as_json = as_json

    def show(self, file: Any = None) -> None:
        click.echo(error_text(self.message, as_json=self.as_json), err=True)


def error_text(message: str, *, as_json: bool) -> str:
    """``error: <message>`` or ``{"error": "<message>"}``, always on one line.

    Text that came from undecodable arguments is shown with escapes, never crashing.
    """
    message = " ".join(message.split())  # one line, whatever the message held
    if as_json:
        return json.dumps({"error": message})
    return "error: " + message.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Stop the command: one line on stderr (JSON under ``--json``) and exit ``code``
    (1 for a refused or failed operation, 2 for a usage or configuration error)."""
    raise CliFailure(message, code, as_json=_json_requested())


def _json_requested() -> bool:
    context = click.get_current_context(silent=True)
    while context is not None:
        if context.params.get("as_json"):
            return True
        context = context.parent
    return False


def emit(as_json: bool, payload: object, text: str) -> None:
    """Print ``payload`` as JSON (timestamps in RFC 3339 with ``Z``, as the HTTP API
    writes them), or ``text`` for people."""
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(payload), indent=2, sort_keys=True))
    else:
        click.echo(text)


def account_payload(account: Account) -> dict[str, object]:
    """The account as JSON: the HTTP API's names (``id``, ``email``) plus ``balance``."""
    return {
        "id": str(account.user.id),
        "email": account.user.email,
        "balance": account.balance,
    }


def entry_payload(entry: LedgerEntry) -> dict[str, object]:
    return {
        "id": str(entry.id),
        "amount": entry.amount,
        "reason": entry.reason,
        "actor": entry.actor,
        "jobId": str(entry.job_id) if entry.job_id else None,
        "purchaseId": str(entry.purchase_id) if entry.purchase_id else None,
        "createdAt": entry.created_at,
    }


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
pass_context = click.make_pass_decorator(CliContext)


class Text(click.ParamType[str]):
    """A text argument that must be valid UTF-8 (a usage error, exit 2, otherwise)."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("is not valid UTF-8 text", param, ctx)
        return text


TEXT = Text()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="picpaygo", prog_name="picpaygo", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """PicPayGo: run the API and manage credits."""
    if ctx.obj is None:
        ctx.obj = CliContext(os.environ)


@cli.command()
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
    announce_profile(settings, context.storage)
    # The embedded server stays up from here until the API processes have all stopped.
    with context.kept_storage():
        if context.storage.shared:
            # Migrate (or check the schema) once here, before the API processes start.
            context.run(_nothing, long_running=True)
        http_server.serve(settings, host, port, workers)


def address_refusal(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, not ours), or None if it can.

    Binds as the server will (``SO_REUSEADDR``), then lets go at once.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return f"cannot listen on {host}:{port}: {exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: the address is already in use"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def silence_library_logging() -> None:
    """Keep log records (the pool's connection warnings, ...) off a one-shot command's stderr.

    Without any handler, Python prints warnings through its last-resort handler.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def configure_logging(settings: Settings) -> None:
    """Log lines in ``LOG_FORMAT`` at ``LOG_LEVEL`` on stderr, with every secret setting
    (keys, the database URL's password) masked."""
    server = settings.server
    logs.configure_logging(server.log_level, server.log_format, secret_values(settings))


async def _nothing() -> None:
    return None


@cli.command()
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
    announce_profile(settings, context.storage)
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

    context.run(work_until_stopped, listen=True, long_running=True)


@cli.command()
@pass_context
def openapi(context: CliContext) -> None:
    """Print the HTTP API's OpenAPI document (JSON), as served at /api/docs/openapi.json."""
    from entrypoints.openapi_document import openapi_document

    click.echo(json.dumps(openapi_document(context.settings), indent=2, ensure_ascii=False))


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@json_option
@pass_context
def migrate(context: CliContext, as_json: bool) -> None:
    """Apply pending schema migrations; safe to run concurrently."""
    context.require_shared_storage("db migrate")
    names = context.run(context.storage.migrate, check_schema=False)
    emit(
        as_json,
        {"applied": names},
        "\n".join(f"applied {name}" for name in names) or "the schema is up to date",
    )


@cli.group()
def users() -> None:
    """Look at accounts."""


@users.command("show")
@click.argument("email", type=TEXT)
@json_option
@pass_context
def users_show(context: CliContext, email: str, as_json: bool) -> None:
    """Show a user's account and paid balance."""
    admin = context.admin("users show")
    account = context.run(lambda: admin.show(email))
    user = account.user
    payload = {
        **account_payload(account),
        "name": user.name,
        "surname": user.surname,
        "isGoogleAccount": user.is_google_account,
        "hasPassword": user.password_hash is not None,
        "createdAt": user.created_at,
        "lastLoginAt": user.last_login_at,
    }
    last_login = f"{user.last_login_at:%Y-%m-%d %H:%M:%S}" if user.last_login_at else "never"
    emit(
        as_json,
        payload,
        f"{user.email} (id {user.id}): {account.balance} credits, "
        f"{'Google' if user.is_google_account else 'password'} account, "
        f"created {user.created_at:%Y-%m-%d}, last login {last_login}",
    )


@cli.group()
def credits() -> None:
    """Look at and adjust a user's paid credits."""


@credits.command("show")
@click.argument("email", type=TEXT)
@json_option
@pass_context
def credits_show(context: CliContext, email: str, as_json: bool) -> None:
    """Show a user's paid balance."""
    admin = context.admin("credits show")
    account = context.run(lambda: admin.show(email))
    emit(as_json, account_payload(account), f"{account.user.email}: {account.balance} credits")


def adjustment_command(
    name: str, summary: str, verb: str, use_case: Callable[[AdminService], Adjustment]
) -> None:
    """Register ``credits grant`` or ``credits revoke``: the same arguments, one use case each."""

    @credits.command(name, help=summary)
    @click.argument("email", type=TEXT)
    @click.argument("amount", type=click.IntRange(min=1))
    @click.option("--reason", type=TEXT, required=True, help="Why, for the ledger.")
    @click.option(
        "--actor", type=TEXT, default=None, help="Who, for the ledger [default: your login]."
    )
    @json_option
    @pass_context
    def adjust(
        context: CliContext, email: str, amount: int, reason: str, actor: str | None, as_json: bool
    ) -> None:
        adjust_balance = use_case(context.admin(f"credits {name}"))
        account = context.run(
            lambda: adjust_balance(email, amount, reason=reason, actor=_actor(actor))
        )
        emit(
            as_json,
            account_payload(account),
            f"{verb} {amount}: {account.user.email} now has {account.balance} credits",
        )


adjustment_command(
    "grant", "Add AMOUNT credits to a user's balance.", "granted", lambda admin: admin.grant
)
adjustment_command(
    "revoke",
    "Take AMOUNT credits from a user's balance (refused below zero).",
    "revoked",
    lambda admin: admin.revoke,
)


@credits.command("history")
@click.argument("email", type=TEXT)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_context
def credits_history(context: CliContext, email: str, limit: int, as_json: bool) -> None:
    """List a user's ledger entries, newest first."""
    admin = context.admin("credits history")
    entries = context.run(lambda: admin.history(email, limit))
    lines = [
        f"{e.created_at:%Y-%m-%d %H:%M:%S} {e.amount:+d} {e.reason} ({e.actor})" for e in entries
    ]
    emit(as_json, [entry_payload(e) for e in entries], "\n".join(lines) or "no entries")


@cli.group()
def payments() -> None:
    """Look at purchases of credit packs and what the payment provider said."""


@payments.command("list")
@click.argument("email", required=False)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@pass_context
def payments_list(context: CliContext, email: str | None, limit: int, as_json: bool) -> None:
    """List purchases, newest first: a user's, or everyone's without EMAIL."""
    purchase_service = context.purchases("payments list")
    found = context.run(lambda: purchase_service.recent(email, limit))
    emit(
        as_json,
        [purchase_payload(p) for p in found],
        "\n".join(purchase_line(p) for p in found) or "no purchases",
    )


@payments.command("show")
@click.argument("purchase_id", type=click.UUID)
@json_option
@pass_context
def payments_show(context: CliContext, purchase_id: uuid.UUID, as_json: bool) -> None:
    """Show one purchase, with its Stripe Checkout Session and payment."""
    purchase_service = context.purchases("payments show")
    purchase = context.run(lambda: purchase_service.show(purchase_id))
    emit(
        as_json,
        purchase_payload(purchase),
        "\n".join(
            [
                purchase_line(purchase),
                f"user: {purchase.user_id}",
                f"checkout session: {purchase.checkout_session_id or '-'}",
                f"payment: {purchase.payment_intent_id or '-'}",
                f"updated: {purchase.updated_at:%Y-%m-%d %H:%M:%S}",
            ]
        ),
    )


def purchase_payload(purchase: Purchase) -> dict[str, object]:
    return {
        "purchaseId": str(purchase.id),
        "userId": str(purchase.user_id),
        "pack": purchase.pack,
        "amount": purchase.amount,
        "currency": purchase.currency,
        "status": purchase.status.value,
        "checkoutSessionId": purchase.checkout_session_id,
        "paymentIntentId": purchase.payment_intent_id,
        "createdAt": purchase.created_at,
        "updatedAt": purchase.updated_at,
    }


def purchase_line(purchase: Purchase) -> str:
    price = f"{purchase.amount} (minor units of {purchase.currency})"
    return (
        f"{purchase.created_at:%Y-%m-%d %H:%M:%S} {purchase.id} {purchase.pack} credits "
        f"for {price}: {purchase.status.value}"
    )


def _actor(actor: str | None) -> str:
    if actor:
        return f"admin:{actor}"
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):
        return "admin:cli"


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
        click.echo(error_text("aborted", as_json=as_json), err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:
        click.echo(error_text(exc.format_message(), as_json=as_json), err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # the last resort: no traceback for any input
        click.echo(
            error_text(f"unexpected failure ({type(exc).__name__}): {exc}", as_json=as_json),
            err=True,
        )
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)
