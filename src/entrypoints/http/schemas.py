"""The API's JSON shapes (camelCase on the wire), kept apart from the domain model.

Every field carries its OpenAPI description, example and documented constraints
(``doc``). Those only document: the values are checked by the core, which answers 422
with a sentence, so a schema constraint never turns a 422 into a decoder's 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar.datastructures import UploadFile
from litestar.openapi.spec import Example
from litestar.params import KwargDefinition

from picpaygo_core.models import (
    Category,
    CheckoutOutcome,
    CreditsView,
    Job,
    JobStatus,
    Purchase,
    PurchaseStatus,
    User,
)
from picpaygo_core.policy import CREDIT_PACKS, PackPrice
from picpaygo_core.validation import (
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
)

EXAMPLE_ID = "0b3f5c4e-8d2a-4f6b-9c1e-2a7d9e4b1c3f"
EXAMPLE_TIME = "2026-01-15T09:30:00Z"


def doc(description: str, *examples: object, **schema: Any) -> KwargDefinition:
    """A field's OpenAPI description, examples and documented constraints (``ge``,
    ``min_length``, ``max_length``, ``schema_extra`` ...)."""
    return KwargDefinition(
        description=description,
        examples=[Example(value=value) for value in examples] or None,
        **schema,
    )


Email = Annotated[
    str,
    doc(
        "Email address, compared case-insensitively.",
        "ada@example.com",
        max_length=MAX_EMAIL_LENGTH,
    ),
]
Timestamp = Annotated[datetime, doc("RFC 3339 time in UTC.", EXAMPLE_TIME)]


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Base of request bodies: unknown fields are an error, not silently dropped."""


class RegisterRequest(Request):
    """A new email + password account."""

    email: Email
    password: Annotated[
        str,
        doc(
            "The password (never stored, only its Argon2id hash).",
            "correct horse battery staple",
            min_length=MIN_PASSWORD_LENGTH,
            max_length=MAX_PASSWORD_LENGTH,
        ),
    ]
    name: Annotated[
        str | None, doc("Given name (optional).", "Ada", max_length=MAX_NAME_LENGTH)
    ] = None
    surname: Annotated[
        str | None, doc("Family name (optional).", "Lovelace", max_length=MAX_NAME_LENGTH)
    ] = None


class LoginRequest(Request):
    """Email and password of an existing account."""

    email: Email
    password: Annotated[
        str,
        doc(
            "The account's password.",
            "correct horse battery staple",
            max_length=MAX_PASSWORD_LENGTH,
        ),
    ]


class GoogleLoginRequest(Request):
    """A Google Identity Services sign-in."""

    credential: Annotated[
        str,
        doc("The Google ID token (a JWT) the Google button returned.", "eyJhbGciOiJSUzI1NiIs..."),
    ]


class ConsumeRequest(Request):
    """How many credits to spend."""

    amount: Annotated[int, doc("Credits to spend, at least 1.", 1, ge=1, le=1_000_000)] = 1


PACK_ENUM = {"enum": sorted(CREDIT_PACKS)}


class CheckoutRequest(Request):
    """The credit pack to buy."""

    pack: Annotated[int, doc("Credits in the pack: 5, 10 or 20.", 10, schema_extra=PACK_ENUM)]


@dataclass
class GenerateForm:
    """The multipart upload of ``POST /api/generate``."""

    image: Annotated[
        UploadFile,
        doc(
            "The photo: a JPEG, PNG or WebP image (checked by its content), within the size limit."
        ),
    ]
    category: Annotated[
        str,
        doc(
            "The look to restyle the photo into.",
            "portraits",
            schema_extra={"enum": [c.value for c in Category]},
        ),
    ]

    async def read_image(self) -> bytes:
        """The uploaded photo's bytes; the upload's temporary file is closed either way."""
        try:
            return await self.image.read()
        finally:
            await self.image.close()


class Response(msgspec.Struct, kw_only=True, rename="camel"):
    """Base of response bodies."""


class UserSchema(Response):
    """A user account."""

    id: Annotated[UUID, doc("The user's id.", EXAMPLE_ID)]
    email: Email
    name: Annotated[str | None, doc("Given name, if known.", "Ada")]
    surname: Annotated[str | None, doc("Family name, if known.", "Lovelace")]
    is_google_account: Annotated[bool, doc("True when the account signs in with Google.", False)]
    email_verified: Annotated[
        bool,
        doc("True once the email is proven (by Google, or by a link mailed to it).", False),
    ]
    created_at: Timestamp

    @classmethod
    def of(cls, user: User) -> UserSchema:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            surname=user.surname,
            is_google_account=user.is_google_account,
            email_verified=user.email_verified,
            created_at=user.created_at,
        )


class AuthResponse(Response):
    """The signed-in user."""

    user: Annotated[UserSchema, doc("The signed-in user's account.")]

    @classmethod
    def of(cls, user: User) -> AuthResponse:
        return cls(user=UserSchema.of(user))


class GoogleConfigResponse(Response):
    """Whether Google sign-in is available."""

    enabled: Annotated[bool, doc("True when Google sign-in is configured.", True)]
    client_id: Annotated[
        str | None,
        doc(
            "The Google OAuth client id for the sign-in button; null when disabled.",
            "123.apps.googleusercontent.com",
        ),
    ]


CreditsTotal = Annotated[
    int, doc("Everything spendable: the free credits left plus the paid balance.", 3, ge=0)
]
PaidBalance = Annotated[int, doc("The paid balance (0 when anonymous).", 0, ge=0)]
FreeCredits = Annotated[int, doc("Free credits left for this client's network.", 3, ge=0)]
Authenticated = Annotated[bool, doc("True when the request carried a valid session.", False)]


class CreditsResponse(Response):
    """A client's credits."""

    credits: CreditsTotal
    balance: PaidBalance
    free_credits: FreeCredits
    authenticated: Authenticated

    @classmethod
    def of(cls, view: CreditsView) -> CreditsResponse:
        return cls(
            credits=view.credits,
            balance=view.balance,
            free_credits=view.free_credits,
            authenticated=view.authenticated,
        )


class CheckoutResponse(Response):
    """The buyer's credits after checkout, and where the purchase stands."""

    credits: CreditsTotal
    balance: PaidBalance
    free_credits: FreeCredits
    authenticated: Authenticated
    status: Annotated[
        Literal["completed", "pending"],
        doc("completed: the credits were added at once; pending: pay at checkoutUrl.", "completed"),
    ]
    checkout_url: Annotated[
        str | None,
        doc("The payment page to send the browser to; null when completed at once.", None),
    ]
    purchase_id: Annotated[UUID, doc("The purchase, to follow it.", EXAMPLE_ID)]

    @classmethod
    def of(cls, outcome: CheckoutOutcome) -> CheckoutResponse:
        view = outcome.credits
        return cls(
            credits=view.credits,
            balance=view.balance,
            free_credits=view.free_credits,
            authenticated=view.authenticated,
            status="pending" if outcome.checkout_url else "completed",
            checkout_url=outcome.checkout_url,
            purchase_id=outcome.purchase.id,
        )


class PackSchema(Response):
    """A credit pack for sale and its price."""

    pack: Annotated[int, doc("Credits in the pack.", 5, schema_extra=PACK_ENUM)]
    amount: Annotated[int, doc("Price in minor units of the currency (cents).", 500, ge=0)]
    currency: Annotated[str, doc("ISO 4217 currency code, lower case.", "usd")]


class PacksResponse(Response):
    """The credit packs for sale."""

    packs: Annotated[list[PackSchema], doc("Every pack, smallest first.")]

    @classmethod
    def of(cls, prices: list[PackPrice]) -> PacksResponse:
        return cls(
            packs=[PackSchema(pack=p.pack, amount=p.amount, currency=p.currency) for p in prices]
        )


class PurchaseSchema(Response):
    """The purchase of a credit pack."""

    purchase_id: Annotated[UUID, doc("The purchase's id.", EXAMPLE_ID)]
    pack: Annotated[int, doc("Credits in the pack.", 10, schema_extra=PACK_ENUM)]
    amount: Annotated[int, doc("Price in minor units (cents).", 900, ge=0)]
    currency: Annotated[str, doc("ISO 4217 currency code, lower case.", "usd")]
    status: Annotated[PurchaseStatus, doc("Where the purchase stands.", "paid")]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, purchase: Purchase) -> PurchaseSchema:
        return cls(
            purchase_id=purchase.id,
            pack=purchase.pack,
            amount=purchase.amount,
            currency=purchase.currency,
            status=purchase.status,
            created_at=purchase.created_at,
            updated_at=purchase.updated_at,
        )


class PurchasesResponse(Response):
    """A page of purchases."""

    purchases: Annotated[list[PurchaseSchema], doc("The caller's purchases, newest first.")]


JobId = Annotated[UUID, doc("The job's id.", EXAMPLE_ID)]
JobState = Annotated[JobStatus, doc("Where the job is.", "queued")]


class WebhookReceived(Response):
    """Stripe's event was verified and applied (or acknowledged and ignored)."""

    received: Annotated[bool, doc("Always true: Stripe need not send the event again.", True)]


class JobCreateResponse(Response):
    """A queued job."""

    job_id: JobId
    status: JobState


class JobStatusResponse(Response):
    """A generation job."""

    job_id: JobId
    status: JobState
    category: Annotated[Category, doc("The look the photo is restyled into.", "portraits")]
    output_url: Annotated[
        str | None, doc("Where to fetch the picture; null until it is ready.", None)
    ]
    error: Annotated[str | None, doc("Why the job failed, for people; null unless failed.", None)]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, job: Job) -> JobStatusResponse:
        return cls(
            job_id=job.id,
            status=job.status,
            category=job.category,
            output_url=f"/api/generate/{job.id}/image" if job.output_image_id else None,
            error=job.error,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class JobListResponse(Response):
    """A page of jobs."""

    jobs: Annotated[list[JobStatusResponse], doc("The caller's jobs, newest first.")]

    @classmethod
    def of(cls, jobs: list[Job]) -> JobListResponse:
        return cls(jobs=[JobStatusResponse.of(job) for job in jobs])


class HealthResponse(Response):
    """Readiness and the state of each dependency."""

    status: Annotated[
        Literal["ok", "degraded", "unavailable"],
        doc("ok; degraded (an operator incident, still serving); unavailable (503).", "ok"),
    ]
    checks: Annotated[
        dict[str, str],
        doc("Each dependency's state, by name.", {"storage": "ok", "imageGenerator": "ok"}),
    ]


class LiveResponse(Response):
    """Liveness."""

    status: Annotated[Literal["ok"], doc("Always ok while the process serves requests.", "ok")]
