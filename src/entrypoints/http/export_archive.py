"""The data export as a zip: ``account.json`` (camelCase, like the API) and
``pictures/<jobId>.<ext>`` for every generated picture still kept."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from uuid import UUID

import msgspec

from entrypoints.http.schemas import PurchaseSchema
from picpaygo_core.models import AccountExport, Category, JobStatus
from picpaygo_core.models.images import EXTENSIONS


class _Camel(msgspec.Struct, kw_only=True, rename="camel"):
    pass


class ExportedProfile(_Camel):
    id: UUID
    email: str
    name: str | None
    surname: str | None
    is_google_account: bool
    has_password: bool
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None
    balance: int


class ExportedLedgerEntry(_Camel):
    id: UUID
    amount: int
    reason: str
    actor: str
    created_at: datetime
    job_id: UUID | None
    purchase_id: UUID | None


class ExportedJob(_Camel):
    job_id: UUID
    category: Category
    status: JobStatus
    error: str | None
    created_at: datetime
    updated_at: datetime
    picture: str | None


class AccountDocument(_Camel):
    exported_at: datetime
    profile: ExportedProfile
    ledger: list[ExportedLedgerEntry]
    purchases: list[PurchaseSchema]
    jobs: list[ExportedJob]


def picture_name(job_id: UUID, content_type: str) -> str:
    """Where a job's picture is in the zip."""
    return f"pictures/{job_id}.{EXTENSIONS.get(content_type, 'bin')}"


def export_zip(export: AccountExport) -> bytes:
    """The zip of ``export``."""
    pictures = {p.job_id: p.picture for p in export.pictures}
    user = export.user
    document = AccountDocument(
        exported_at=export.exported_at,
        profile=ExportedProfile(
            id=user.id,
            email=user.email,
            name=user.name,
            surname=user.surname,
            is_google_account=user.is_google_account,
            has_password=user.password_hash is not None,
            email_verified=user.email_verified,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            balance=export.balance,
        ),
        ledger=[
            ExportedLedgerEntry(
                id=e.id,
                amount=e.amount,
                reason=e.reason,
                actor=e.actor,
                created_at=e.created_at,
                job_id=e.job_id,
                purchase_id=e.purchase_id,
            )
            for e in export.ledger
        ],
        purchases=[PurchaseSchema.of(p) for p in export.purchases],
        jobs=[
            ExportedJob(
                job_id=job.id,
                category=job.category,
                status=job.status,
                error=job.error,
                created_at=job.created_at,
                updated_at=job.updated_at,
                picture=picture_name(job.id, pictures[job.id].content_type)
                if job.id in pictures
                else None,
            )
            for job in export.jobs
        ],
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("account.json", msgspec.json.format(msgspec.json.encode(document)))
        for job_id, picture in pictures.items():
            # Pictures are compressed already.
            archive.writestr(
                picture_name(job_id, picture.content_type),
                picture.data,
                compress_type=zipfile.ZIP_STORED,
            )
    return buffer.getvalue()
