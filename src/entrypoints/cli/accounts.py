"""``picpaygo users`` and ``picpaygo credits``: look at accounts, adjust paid credits."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Coroutine
from typing import Any

import click

from entrypoints.cli.context import CliContext
from entrypoints.cli.output import (
    TEXT,
    account_payload,
    emit,
    entry_payload,
    json_option,
    pass_context,
)
from picpaygo_core.services import AdminService
from picpaygo_core.services.admin import Account
from picpaygo_core.services.erasure import AccountService

Adjustment = Callable[..., Coroutine[Any, Any, Account]]


@click.group()
def users() -> None:
    """Look at accounts."""


@users.command("show")
@click.argument("email", type=TEXT)
@json_option
@pass_context
def users_show(context: CliContext, email: str, as_json: bool) -> None:
    """Show a user's account and paid balance."""
    account = _account(context, "users show", email)
    user = account.user
    payload = {
        **account_payload(account),
        "name": user.name,
        "surname": user.surname,
        "isGoogleAccount": user.is_google_account,
        "hasPassword": user.password_hash is not None,
        "emailVerified": user.email_verified,
        "createdAt": user.created_at,
        "lastLoginAt": user.last_login_at,
    }
    last_login = f"{user.last_login_at:%Y-%m-%d %H:%M:%S}" if user.last_login_at else "never"
    emit(
        as_json,
        payload,
        f"{user.email} (id {user.id}): {account.balance} credits, "
        f"{'Google' if user.is_google_account else 'password'} account, "
        f"email {'verified' if user.email_verified else 'not verified'}, "
        f"created {user.created_at:%Y-%m-%d}, last login {last_login}",
    )


@users.command("delete")
@click.argument("email", type=TEXT)
@click.option("--reason", type=TEXT, required=True, help="Why, for the ledger and the log.")
@click.option("--actor", type=TEXT, default=None, help="Who [default: your login].")
@json_option
@pass_context
def users_delete(
    context: CliContext, email: str, reason: str, actor: str | None, as_json: bool
) -> None:
    """Erase a user's account, as DELETE /api/account does: unspent paid credits are
    forfeited; ledger entries and purchases stay for the books, naming no one."""
    accounts: AccountService = context.shared("users delete").account_service()
    user = context.run(lambda: accounts.erase(email, reason=reason, actor=_actor(actor)))
    emit(
        as_json,
        {"id": str(user.id), "email": user.email, "erased": True},
        f"erased {user.email} (id {user.id})",
    )


@click.group()
def credits() -> None:
    """Look at and adjust a user's paid credits."""


@credits.command("show")
@click.argument("email", type=TEXT)
@json_option
@pass_context
def credits_show(context: CliContext, email: str, as_json: bool) -> None:
    """Show a user's paid balance."""
    account = _account(context, "credits show", email)
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


def _account(context: CliContext, command: str, email: str) -> Account:
    """The account with ``email``, looked up for ``command`` (refused on memory storage)."""
    admin = context.admin(command)
    return context.run(lambda: admin.show(email))


def _actor(actor: str | None) -> str:
    if actor:
        return f"admin:{actor}"
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):
        return "admin:cli"
