"""``/api/credits``: see, spend and buy credits, and follow purchases."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter

from entrypoints.http import idempotency
from entrypoints.http.dependencies import Services
from entrypoints.http.route_options import IDEMPOTENT, UNCOMPRESSED
from entrypoints.http.schemas import (
    CheckoutRequest,
    CheckoutResponse,
    ConsumeRequest,
    CreditsResponse,
    PacksResponse,
    PurchaseSchema,
    PurchasesResponse,
)
from picpaygo_core.errors import PurchaseNotFound
from picpaygo_core.models import Caller, CreditsView
from picpaygo_core.services.purchases import DEFAULT_LIMIT


class CreditsController(Controller):
    path = "/api/credits"
    tags = ["credits"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/", operation_id="getCredits", opt=UNCOMPRESSED)
    async def balance(self, caller_credits: NamedDependency[CreditsView]) -> CreditsResponse:
        """Free credits of this client's network, paid balance, and their total."""
        return CreditsResponse.of(caller_credits)

    @get("/packs", operation_id="getPacks")
    async def packs(self, services: NamedDependency[Services]) -> PacksResponse:
        """The credit packs for sale and their prices (in every payment mode)."""
        return services.packs

    @post(
        "/consume",
        status_code=200,
        operation_id="consumeCredits",
        opt={**IDEMPOTENT, **UNCOMPRESSED},
    )
    async def consume(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        data: JSONBody[ConsumeRequest | None] = None,
    ) -> Response[CreditsResponse]:
        """Spend credits (default 1), free ones first; 402 and nothing spent if short.

        With an ``Idempotency-Key``, a retry gets the first answer and spends nothing.
        """
        amount = data.amount if data else 1
        return await idempotency.respond(
            request,
            services,
            request_parts=(str(amount),),
            status_code=200,
            render=CreditsResponse.of,
            run=lambda admitted, recorder: services.credits.consume(
                admitted.caller, amount, recorder=recorder
            ),
        )

    @post("/checkout", status_code=200, operation_id="checkout", opt=IDEMPOTENT)
    async def checkout(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CheckoutRequest],
        services: NamedDependency[Services],
    ) -> Response[CheckoutResponse]:
        """Buy a pack of 5, 10 or 20 credits (signed-in users only).

        ``status`` is ``completed`` when the credits were added at once, else ``pending``
        with ``checkoutUrl``, the provider's payment page to send the browser to.
        """
        return await idempotency.respond(
            request,
            services,
            request_parts=(str(data.pack),),
            status_code=200,
            render=CheckoutResponse.of,
            run=lambda admitted, recorder: services.credits.checkout(
                admitted.caller, data.pack, recorder=recorder
            ),
        )

    @get("/purchases", operation_id="listPurchases")
    async def purchases(
        self,
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
        limit: Annotated[
            int, Parameter(description="Purchases per page, 1 to 100 (else 422).")
        ] = DEFAULT_LIMIT,
    ) -> PurchasesResponse:
        """The caller's purchases, newest first (``limit`` 1 to 100, default 20)."""
        found = await services.purchases.mine(caller, limit)
        return PurchasesResponse(purchases=[PurchaseSchema.of(p) for p in found])

    @get("/purchases/{purchaseId:str}", operation_id="getPurchase")
    async def purchase(
        self,
        purchaseId: Annotated[  # the path parameter's public name
            str, Parameter(description="The purchase's id, as `purchaseId` in the answers.")
        ],
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
    ) -> PurchaseSchema:
        """One of the caller's purchases (polled after the payment page sends them back)."""
        return PurchaseSchema.of(
            await services.purchases.one_of_mine(caller, _parse_purchase_id(purchaseId))
        )


def _parse_purchase_id(purchase_id: str) -> UUID:
    try:
        return uuid.UUID(purchase_id)
    except ValueError:
        raise PurchaseNotFound from None
