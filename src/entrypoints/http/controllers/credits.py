"""``/api/credits``: see, spend and buy credits."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.http.schemas import CheckoutRequest, ConsumeRequest, CreditsResponse
from picpaygo_core.models import Caller
from picpaygo_core.services import CreditService


class CreditsController(Controller):
    path = "/api/credits"
    tags = ["credits"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", operation_id="getCredits")
    async def balance(
        self, caller: NamedDependency[Caller], credit_service: NamedDependency[CreditService]
    ) -> CreditsResponse:
        """Free credits of this client's network, paid balance, and their total."""
        return CreditsResponse.of(await credit_service.view(caller))

    @post("/consume", status_code=200, operation_id="consumeCredits")
    async def consume(
        self,
        caller: NamedDependency[Caller],
        credit_service: NamedDependency[CreditService],
        data: JSONBody[ConsumeRequest | None] = None,
    ) -> CreditsResponse:
        """Spend credits (default 1), free ones first; 402 and nothing spent if short."""
        amount = data.amount if data else 1
        return CreditsResponse.of(await credit_service.consume(caller, amount))

    @post("/checkout", status_code=200, operation_id="checkout")
    async def checkout(
        self,
        data: JSONBody[CheckoutRequest],
        caller: NamedDependency[Caller],
        credit_service: NamedDependency[CreditService],
    ) -> CreditsResponse:
        """Buy a pack of 5, 10 or 20 credits (signed-in users only)."""
        return CreditsResponse.of(await credit_service.checkout(caller, data.pack))
