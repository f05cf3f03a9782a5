"""Who is asking, and what the start of a request reads about them."""

from __future__ import annotations

import msgspec

from picpaygo_core.models.credits import CreditsView
from picpaygo_core.models.idempotency import IdempotencyRecord, StoredResponse
from picpaygo_core.models.users import Session, User


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking: a signed-in user or an anonymous client, and the client's network."""

    user: User | None
    client_network: str

    @property
    def actor(self) -> str:
        """How this caller is named in the ledger."""
        return f"user:{self.user.id}" if self.user else f"anonymous:{self.client_network}"


class CallerLookup(msgspec.Struct, frozen=True, kw_only=True):
    """What the start of a request reads in one go: the session of its token (None if it
    matches none; maybe expired) with its user, the user's paid balance, the network's
    free credits and, when a key was to be claimed, the claim's outcome (None: claimed)."""

    session: Session | None
    user: User | None
    balance: int
    free_credits: int
    claim: IdempotencyRecord | None = None


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """A request let in: who is asking, what they can spend right now (the network's free
    credits and, signed in, the paid balance), and the answer to replay instead of doing
    the work again (a retry with an idempotency key)."""

    caller: Caller
    balance: int
    free_credits: int
    replay: StoredResponse | None = None

    @property
    def credits(self) -> int:
        """Everything the caller can spend."""
        return self.free_credits + self.balance

    @property
    def view(self) -> CreditsView:
        """The caller's credits as the API shows them."""
        return CreditsView(
            credits=self.credits,
            balance=self.balance,
            free_credits=self.free_credits,
            authenticated=self.caller.user is not None,
        )
