"""``picpaygo payments``: purchases of credit packs and what the payment provider said."""

from __future__ import annotations

import uuid

import click

from entrypoints.cli.context import CliContext
from entrypoints.cli.output import emit, json_option, pass_context, purchase_line, purchase_payload


@click.group()
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
