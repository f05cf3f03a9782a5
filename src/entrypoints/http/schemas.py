"""The API's JSON shapes (camelCase on the wire), kept apart from the domain model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec
from litestar.datastructures import UploadFile

from picpaygo_core.models import CheckoutOutcome, CreditsView, Job, Purchase, User


class Request(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Base of request bodies: unknown fields are an error, not silently dropped."""


class RegisterRequest(Request):
    email: str
    password: str
    name: str | None = None
    surname: str | None = None


class LoginRequest(Request):
    email: str
    password: str


class GoogleLoginRequest(Request):
    credential: str


class ConsumeRequest(Request):
    amount: int = 1


class CheckoutRequest(Request):
    pack: int


@dataclass
class GenerateForm:
    """The multipart upload of ``POST /api/generate``."""

    image: UploadFile
    category: str


class Response(msgspec.Struct, kw_only=True, rename="camel"):
    """Base of response bodies."""


class UserSchema(Response):
    id: UUID
    email: str
    name: str | None
    surname: str | None
    is_google_account: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserSchema:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            surname=user.surname,
            is_google_account=user.is_google_account,
            created_at=user.created_at,
        )


class AuthResponse(Response):
    user: UserSchema

    @classmethod
    def of(cls, user: User) -> AuthResponse:
        return cls(user=UserSchema.of(user))


class GoogleConfigResponse(Response):
    enabled: bool
    client_id: str | None


class CreditsResponse(Response):
    credits: int
    balance: int
    free_credits: int
    authenticated: bool

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

    credits: int
    balance: int
    free_credits: int
    authenticated: bool
    status: str
    checkout_url: str | None
    purchase_id: UUID

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


class PurchaseSchema(Response):
    purchase_id: UUID
    pack: int
    amount: int
    currency: str
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, purchase: Purchase) -> PurchaseSchema:
        return cls(
            purchase_id=purchase.id,
            pack=purchase.pack,
            amount=purchase.amount,
            currency=purchase.currency,
            status=purchase.status.value,
            created_at=purchase.created_at,
            updated_at=purchase.updated_at,
        )


class PurchasesResponse(Response):
    purchases: list[PurchaseSchema]


class JobCreateResponse(Response):
    job_id: UUID
    status: str


class JobStatusResponse(Response):
    job_id: UUID
    status: str
    category: str
    output_url: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, job: Job) -> JobStatusResponse:
        return cls(
            job_id=job.id,
            status=job.status.value,
            category=job.category.value,
            output_url=f"/api/generate/{job.id}/image" if job.output_image_id else None,
            error=job.error,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


class JobListResponse(Response):
    jobs: list[JobStatusResponse]

    @classmethod
    def of(cls, jobs: list[Job]) -> JobListResponse:
        return cls(jobs=[JobStatusResponse.of(job) for job in jobs])


class HealthResponse(Response):
    status: str
    checks: dict[str, str]


class LiveResponse(Response):
    status: str
