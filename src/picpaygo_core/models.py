"""Domain values: immutable msgspec Structs, changed with ``msgspec.structs.replace``."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import msgspec


class Category(enum.StrEnum):
    """The looks a photo can be restyled into."""

    PORTRAITS = "portraits"
    EDITORIAL = "editorial"
    DOCUMENTARY = "documentary"


class JobStatus(enum.StrEnum):
    """Where a generation job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        """A finished job never changes again."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


class CreditSource(enum.StrEnum):
    """Which pot a job's credit was taken from, so a refund returns it there."""

    FREE = "free"
    PAID = "paid"


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A person with an account (email + password, Google, or both)."""

    id: UUID
    email: str
    password_hash: str | None
    name: str | None
    surname: str | None
    is_google_account: bool
    google_id: str | None
    created_at: datetime
    last_login_at: datetime | None = None
    last_login_location: str | None = None


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in browser. Only a hash of its token is ever stored."""

    token_hash: str
    user_id: UUID
    created_at: datetime
    expires_at: datetime

    def is_expired(self, now: datetime) -> bool:
        """True once the session's lifetime is over."""
        return now >= self.expires_at


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One change of a user's paid balance. The balance is the sum of these."""

    id: UUID
    user_id: UUID
    amount: int
    reason: str
    actor: str
    created_at: datetime
    job_id: UUID | None = None
    idempotency_key: str | None = None
    purchase_id: UUID | None = None


class Charge(msgspec.Struct, frozen=True, kw_only=True):
    """How a spend was covered (free credits first, then the paid balance), and what is
    left afterwards: ``free_left`` for the network, ``balance`` for the user (0 if none)."""

    free: int
    paid: int
    free_left: int
    balance: int


class Spending(msgspec.Struct, frozen=True, kw_only=True):
    """A request to take ``amount`` credits: free ones of ``network`` first (a network
    never seen has ``initial_free``), then the paid balance of ``user_id`` (None for an
    anonymous client), the paid part written to the ledger as entry ``entry_id``."""

    network: str
    amount: int
    initial_free: int
    user_id: UUID | None
    entry_id: UUID
    reason: str
    actor: str
    now: datetime
    job_id: UUID | None = None
    idempotency_key: str | None = None


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A request to restyle one photo, charged one credit when created."""

    id: UUID
    category: Category
    status: JobStatus
    owner_id: UUID | None
    client_network: str
    credit_source: CreditSource
    input_image_id: UUID | None
    output_image_id: UUID | None
    error: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    available_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    refunded: bool = False


class StoredImage(msgspec.Struct, frozen=True, kw_only=True):
    """Image bytes kept by the service: an uploaded photo or a generated picture."""

    id: UUID
    data: bytes
    content_type: str
    created_at: datetime


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an uploaded file turned out to be once its content was read."""

    content_type: str
    width: int
    height: int


class CleanImage(msgspec.Struct, frozen=True, kw_only=True):
    """An upload decoded and encoded again: upright, without metadata (ICC profile aside)."""

    info: ImageInfo
    data: bytes


class GoogleIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The facts a verified Google ID token vouches for."""

    google_id: str
    email: str
    email_verified: bool
    name: str | None
    surname: str | None


class PurchaseStatus(enum.StrEnum):
    """Where the purchase of a credit pack is in its life."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REVERSED = "reversed"


class Purchase(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of a user to buy a credit pack, and what became of the money.

    ``amount`` is in minor units of ``currency`` (cents for ``usd``). The provider's
    checkout session and payment are kept once known, so its events can be matched.
    """

    id: UUID
    user_id: UUID
    pack: int
    amount: int
    currency: str
    status: PurchaseStatus
    created_at: datetime
    updated_at: datetime
    checkout_session_id: str | None = None
    payment_intent_id: str | None = None


class CheckoutSession(msgspec.Struct, frozen=True, kw_only=True):
    """A payment page the provider opened for a purchase: where to send the buyer."""

    id: str
    url: str
    customer_id: str | None = None


class CheckoutOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a checkout did: the purchase, the buyer's credits now, and the payment page.

    ``checkout_url`` is None when the purchase was completed at once.
    """

    purchase: Purchase
    credits: CreditsView
    checkout_url: str | None


class Generated(msgspec.Struct, frozen=True, kw_only=True, tag="generated"):
    """The generator produced a picture."""

    data: bytes
    content_type: str


class TransientFailure(msgspec.Struct, frozen=True, kw_only=True, tag="transient"):
    """A failure that may pass: try again later (after ``retry_after`` seconds if given)."""

    reason: str
    retry_after: float | None = None


class PermanentFailure(msgspec.Struct, frozen=True, kw_only=True, tag="permanent"):
    """This job cannot succeed; ``message`` is shown to the person."""

    message: str


class OperatorFailure(msgspec.Struct, frozen=True, kw_only=True, tag="operator"):
    """The service is misconfigured (bad key, provider out of funds): not the person's fault."""

    message: str


GenerationOutcome = Generated | TransientFailure | PermanentFailure | OperatorFailure


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """An ongoing problem an operator must fix (say, the image model's key was refused).

    At most one is open per ``source``; it stays open until that source works again.
    """

    source: str
    message: str
    started_at: datetime


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking: a signed-in user or an anonymous client, and the client's network."""

    user: User | None
    network: str

    @property
    def actor(self) -> str:
        """How this caller is named in the ledger."""
        return f"user:{self.user.id}" if self.user else f"anonymous:{self.network}"


class CreditsView(msgspec.Struct, frozen=True, kw_only=True):
    """What a client may spend: free credits of its network plus its paid balance."""

    credits: int
    balance: int
    free_credits: int
    authenticated: bool


class SignedIn(msgspec.Struct, frozen=True, kw_only=True):
    """The result of a successful sign-in: the user and the new session's secret token."""

    user: User
    token: str
    expires_at: datetime


class CheckoutPaid(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_paid"):
    """The provider says the money of a checkout arrived (at once or after a delay)."""

    event_id: str
    session_id: str
    purchase_reference: str | None
    payment_intent_id: str | None
    amount_total: int | None = None
    currency: str | None = None


class CheckoutUnpaid(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_unpaid"):
    """A checkout was completed but the money has not arrived yet (a delayed method)."""

    event_id: str
    session_id: str
    purchase_reference: str | None
    payment_intent_id: str | None


class CheckoutFailed(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_failed"):
    """A delayed payment of a checkout failed: no money will come."""

    event_id: str
    session_id: str
    purchase_reference: str | None


class CheckoutExpired(msgspec.Struct, frozen=True, kw_only=True, tag="checkout_expired"):
    """The buyer never finished the checkout and its page expired."""

    event_id: str
    session_id: str
    purchase_reference: str | None


class PaymentReversed(msgspec.Struct, frozen=True, kw_only=True, tag="payment_reversed"):
    """The money of a payment went back to the buyer: a full refund or a dispute."""

    event_id: str
    payment_intent_id: str
    kind: str
    reference: str


class IgnoredPaymentEvent(msgspec.Struct, frozen=True, kw_only=True, tag="ignored"):
    """An event of a kind the service does not act on (acknowledged all the same)."""

    event_id: str
    event_type: str


PaymentEvent = (
    CheckoutPaid
    | CheckoutUnpaid
    | CheckoutFailed
    | CheckoutExpired
    | PaymentReversed
    | IgnoredPaymentEvent
)


class PaymentReversal(msgspec.Struct, frozen=True, kw_only=True):
    """A refund or dispute reported for a payment, kept even before its purchase is known
    (events may arrive in any order), so the purchase is reversed whenever it is paid."""

    payment_intent_id: str
    kind: str
    reference: str
    created_at: datetime


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The first answer to a request sent with an idempotency key, replayed to retries."""

    status_code: int
    body: bytes


class IdempotencyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of a (caller, key): the request's fingerprint, and its answer once
    the first request has finished (None while it is still being worked on)."""

    fingerprint: str
    response: StoredResponse | None


class KeyClaim(msgspec.Struct, frozen=True, kw_only=True):
    """An idempotency key to claim for a request (see ``IdempotencyRepository.claim``)."""

    key: str
    fingerprint: str
    now: datetime
    expires_at: datetime
    stale_before: datetime


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
