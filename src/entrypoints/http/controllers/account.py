"""``/api/account``: a copy of everything held about the caller, and erasure."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, delete, get
from litestar.di import NamedDependency
from litestar.params import JSONBody

from entrypoints.http.account_schemas import DeleteAccountRequest
from entrypoints.http.dependencies import Services
from entrypoints.http.export_archive import export_zip
from picpaygo_core.errors import NotAuthenticated
from picpaygo_core.models import Caller


class AccountController(Controller):
    path = "/api/account"
    tags = ["account"]  # noqa: RUF012 - Litestar reads this class attribute

    @get("/export", operation_id="exportAccount", media_type="application/zip")
    async def export(
        self, caller: NamedDependency[Caller], services: NamedDependency[Services]
    ) -> Response[bytes]:
        """Everything held about the signed-in caller, as a zip: ``account.json`` (profile,
        ledger, purchases, jobs) and ``pictures/<jobId>.<ext>`` for every picture still
        kept. At most one a minute."""
        if caller.user is None:
            raise NotAuthenticated
        export = await services.accounts.export(caller.user)
        archive = await asyncio.to_thread(export_zip, export)
        # Cache-Control (no-store) and nosniff are set for every private answer
        # (response_headers).
        return Response(
            archive,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="picpaygo-account.zip"'},
        )

    @delete("/", status_code=204, operation_id="deleteAccount")
    async def delete_account(
        self,
        caller: NamedDependency[Caller],
        services: NamedDependency[Services],
        client_ip: NamedDependency[str],
        data: JSONBody[DeleteAccountRequest | None] = None,
    ) -> Response[None]:
        """Erase the signed-in account, confirmed with its password or a fresh Google ID
        token.

        Erased: email, names, password, Google link, payment-provider customer,
        sessions, links, photos, pictures and jobs. **Unspent paid credits are
        forfeited.** Ledger entries and purchases are kept for the books, naming no one.
        The email is free for a new account at once.
        """
        if caller.user is None:
            raise NotAuthenticated
        await services.accounts.delete(
            user=caller.user,
            password=data.password if data else None,
            credential=data.credential if data else None,
            client_ip=client_ip,
        )
        response: Response[None] = Response(content=None, status_code=204)
        services.session_cookie.clear(response)
        return response
