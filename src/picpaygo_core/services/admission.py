"""Letting a request in: who is calling, what they can spend, and whether its
idempotency key was answered before, all read in one step."""

from __future__ import annotations

from picpaygo_core.models import Admission, Caller
from picpaygo_core.policy import Policy
from picpaygo_core.ports import Clock, SessionReads, UnitOfWorkFactory
from picpaygo_core.services.idempotency import claim_outcome, key_claim
from picpaygo_core.services.sessions import forget_session, session_token_hash


class AdmissionService:
    """The first step of every request that spends or shows credits."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        session_reads: SessionReads,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self._uow_factory = uow_factory
        self._session_reads = session_reads
        self._clock = clock
        self._policy = policy

    async def admit(
        self,
        token: str | None,
        client_network: str,
        *,
        key: str | None = None,
        request: str = "",
    ) -> Admission:
        """Who holds the session ``token`` (anonymous without a valid one) and what they
        can spend, read in one step; with an idempotency ``key``, that step also claims
        the key for ``request`` (a ``fingerprint``) in the caller's scope, and the claim
        is committed before anything else happens (a retry must see it).

        The admission's ``replay`` is the stored answer when the same request was already
        answered. Raises ``IdempotencyKeyReused`` when the key was used for another
        request, and ``RequestInProgress`` while the first one is still being worked on.
        An expired session is forgotten here.
        """
        now = self._clock.now()
        token_hash = session_token_hash(token)
        claim = key_claim(key, request, now) if key is not None else None
        if claim is None:
            found = await self._session_reads.caller(
                token_hash, client_network, self._policy.free_credits
            )
        else:
            async with self._uow_factory() as uow:
                found = await uow.sessions.find_caller(
                    token_hash, client_network, initial_free=self._policy.free_credits, claim=claim
                )
                await uow.commit()
        user = found.user if found.session is not None else None
        if found.session is not None and found.session.is_expired(now):
            await forget_session(self._uow_factory, found.session.token_hash)
            user = None
        return Admission(
            caller=Caller(user=user, client_network=client_network),
            balance=found.balance if user is not None else 0,
            free_credits=found.free_credits,
            replay=claim_outcome(found.claim, request) if claim is not None else None,
        )
