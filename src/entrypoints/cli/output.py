"""What commands print and take: JSON with the HTTP API's names, or a line for people;
text arguments that must be valid UTF-8."""

from __future__ import annotations

import json
from typing import Any

import click
import msgspec

from entrypoints.cli.context import CliContext
from picpaygo_core.models import LedgerEntry, Purchase
from picpaygo_core.services.admin import Account

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
    """A ledger entry as JSON."""
    return {
        "id": str(entry.id),
        "amount": entry.amount,
        "reason": entry.reason,
        "actor": entry.actor,
        "jobId": str(entry.job_id) if entry.job_id else None,
        "purchaseId": str(entry.purchase_id) if entry.purchase_id else None,
        "createdAt": entry.created_at,
    }


def purchase_payload(purchase: Purchase) -> dict[str, object]:
    """A purchase as JSON, with the payment provider's ids."""
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
    """A purchase on one line for people."""
    price = f"{purchase.amount} (minor units of {purchase.currency})"
    return (
        f"{purchase.created_at:%Y-%m-%d %H:%M:%S} {purchase.id} {purchase.pack} credits "
        f"for {price}: {purchase.status.value}"
    )
