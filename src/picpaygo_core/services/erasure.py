"""Leaving: an account erased, the books kept (anonymised), and a copy of one's data."""

from __future__ import annotations

import logging

from picpaygo_core.errors import (
    ConfirmationFailed,
    ConfirmationMissing,
    InvalidGoogleToken,
    NotAuthenticated,
    PictureMissing,
)
from picpaygo_core.fairness import PerKeyLimiter
from picpaygo_core.models import AccountExport, ExportedPicture, Job, Picture, User
from picpaygo_core.policy import Policy
from picpaygo_core.ports import (
    AttemptThrottle,
    Clock,
    GoogleTokenVerifier,
    PasswordHasher,
    PictureStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from picpaygo_core.services.account_links import new_mail
from picpaygo_core.services.account_mail import deletion_mail
from picpaygo_core.services.admin import MAX_ACTOR_LENGTH, MAX_REASON_LENGTH, user_by_email
from picpaygo_core.services.attempts import SIGN_IN, Attempts, network_of
from picpaygo_core.services.idempotency import idempotency_scope
from picpaygo_core.services.ledger import ledger_entry
from picpaygo_core.services.pictures import forget_object
from picpaygo_core.validation import (
    MAX_PASSWORD_LENGTH,
    check_ledger_text,
)

logger = logging.getLogger(__name__)

EXPORTS_PER_MINUTE = 1
# Every ledger entry and purchase of one person fits in this many rows.
EVERYTHING = 1_000_000
JOB_PAGE = 100
FORFEITED = "account_deleted: unspent credits forfeited"


class AccountService:
    """Erasing an account (by its owner or a maintainer) and exporting its data."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        hasher: PasswordHasher,
        hashing: PerKeyLimiter,
        google: GoogleTokenVerifier,
        throttle: AttemptThrottle,
        pictures: PictureStore,
        clock: Clock,
        policy: Policy,
    ) -> None:
        self._uow_factory = uow_factory
        self._pictures = pictures
        self._hasher = hasher
        self._google = google
        self._attempts = Attempts(throttle, policy)
        self._clock = clock
        self._hashing = hashing

    async def delete(
        self,
        *,
        user: User,
        password: str | None = None,
        credential: str | None = None,
        client_ip: str | None = None,
    ) -> None:
        """Erase the signed-in user's account, confirmed with their password or a fresh
        Google ID token of the same Google account.

        ``ConfirmationMissing`` without either, ``ConfirmationFailed`` (or
        ``InvalidGoogleToken``) for one that does not match; throttled like a sign-in.
        Unspent paid credits are forfeited; ledger entries and purchases are kept for
        the books, naming no one.
        """
        if password is None and credential is None:
            raise ConfirmationMissing
        failures = (ConfirmationFailed, InvalidGoogleToken)
        async with self._attempts.sign_in(SIGN_IN, client_ip, failure=failures):
            if password is not None:
                await self._confirm_password(user, password, client_ip)
            else:
                identity = await self._google.verify(credential or "")
                if user.google_id is None or identity.google_id != user.google_id:
                    raise ConfirmationFailed
        async with self._uow_factory() as uow:
            current = await uow.users.find_by_id(user.id)
            if current is None:
                raise NotAuthenticated
            keys = await self._erase(
                uow, current, actor="user", reason="asked by the account holder"
            )
            await uow.commit()
        await self._forget(keys)

    async def erase(self, email: str, *, reason: str, actor: str) -> User:
        """Erase the account with ``email`` (a maintainer's ``users delete``); the user
        as it was. ``UserNotFound`` if there is none."""
        reason = check_ledger_text(reason, "reason", MAX_REASON_LENGTH)
        actor = check_ledger_text(actor, "actor", MAX_ACTOR_LENGTH)
        async with self._uow_factory() as uow:
            user = await user_by_email(uow, email)
            keys = await self._erase(uow, user, actor=actor, reason=reason)
            await uow.commit()
        await self._forget(keys)
        return user

    async def export(self, user: User) -> AccountExport:
        """Everything held about the signed-in user: at most one export a minute."""
        await self._attempts.count(
            f"export:{user.id}", limit=EXPORTS_PER_MINUTE, window_seconds=60.0
        )
        async with self._uow_factory() as uow:
            current = await uow.users.find_by_id(user.id)
            if current is None:
                raise NotAuthenticated
            jobs = await _all_jobs(uow, user)
            images = []
            for job in jobs:
                image = await uow.images.find(job.output_image_id) if job.output_image_id else None
                if image is not None:
                    images.append((job.id, image))
            balance = await uow.credits.balance(user.id)
            ledger = await uow.credits.history(user.id, EVERYTHING)
            purchases = await uow.purchases.list_recent(user.id, EVERYTHING)
        pictures = []
        for job_id, image in images:  # read from the picture store, no transaction open
            try:
                data = await self._pictures.get(image.key)
            except PictureMissing:
                continue  # its retention ended meanwhile
            picture = Picture(data=data, content_type=image.content_type)
            pictures.append(ExportedPicture(job_id=job_id, picture=picture))
        return AccountExport(
            user=current,
            balance=balance,
            ledger=ledger,
            purchases=purchases,
            jobs=jobs,
            pictures=pictures,
            exported_at=self._clock.now(),
        )

    async def _confirm_password(self, user: User, password: str, client_ip: str | None) -> None:
        if user.password_hash is None or len(password) > MAX_PASSWORD_LENGTH:
            raise ConfirmationFailed
        async with self._hashing.slot(network_of(client_ip)):
            if not await self._hasher.verify(user.password_hash, password):
                raise ConfirmationFailed

    async def _forget(self, keys: list[str]) -> None:
        """Delete the objects of an erased account's photos and pictures (after the commit:
        one whose deletion fails is an orphan, which the sweep deletes later)."""
        for key in keys:
            await forget_object(self._pictures, key)

    async def _erase(self, uow: UnitOfWork, user: User, *, actor: str, reason: str) -> list[str]:
        """Erase ``user`` in ``uow``; the picture store keys of their photos and pictures."""
        now = self._clock.now()
        # Held from here to the commit: a credit or a spend landing meanwhile waits, so
        # the forfeit is the whole balance and nothing vanishes with the account unrecorded.
        balance = await uow.credits.balance(user.id, for_update=True)
        if balance > 0:
            await uow.credits.record(
                ledger_entry(
                    user_id=user.id,
                    amount=-balance,
                    reason=f"{FORFEITED} ({reason})",
                    actor=actor,
                    now=now,
                )
            )
        jobs, keys = await uow.jobs.erase_for_owner(user.id)
        await uow.idempotency.delete_scope(idempotency_scope(user.id, ""))
        await uow.outbox.delete_for_user(user.id)
        await uow.account_events.delete_for_user(user.id)
        await uow.users.delete(user.id)
        await uow.outbox.add(new_mail(user.email, deletion_mail(), user_id=None, now=now))
        logger.info(
            "account %s erased by %s: %d job(s), %d unspent credit(s) forfeited",
            user.id,
            actor,
            jobs,
            balance,
        )
        return keys


async def _all_jobs(uow: UnitOfWork, user: User) -> list[Job]:
    jobs: list[Job] = []
    while True:
        page = await uow.jobs.list_for_owner(
            user.id, limit=JOB_PAGE, before=jobs[-1] if jobs else None
        )
        jobs += page
        if len(page) < JOB_PAGE:
            return jobs
