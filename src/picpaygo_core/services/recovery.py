"""Keeping an account: verify its email, recover a forgotten password, change it."""

from __future__ import annotations

import uuid

import msgspec

from picpaygo_core.errors import (
    EmailAlreadyVerified,
    NotAuthenticated,
    WrongPassword,
)
from picpaygo_core.fairness import PerKeyLimiter
from picpaygo_core.models import AccountEvent, SignedIn, TokenPurpose, User
from picpaygo_core.policy import Policy
from picpaygo_core.ports import (
    AttemptThrottle,
    Clock,
    PasswordHasher,
    UnitOfWork,
    UnitOfWorkFactory,
)
from picpaygo_core.services.account_links import AccountLinks
from picpaygo_core.services.attempts import SIGN_IN, Attempts, network_of
from picpaygo_core.services.sessions import start_session
from picpaygo_core.validation import (
    MAX_PASSWORD_LENGTH,
    check_password,
    email_key,
    normalise_email,
)

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
VERIFICATION_MAILS_PER_MINUTE = 1
VERIFICATION_MAILS_PER_DAY = 5
RESET_MAILS_PER_HOUR = 3


class RecoveryService:
    """Use cases for proving an email and for passwords forgotten or changed."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        hasher: PasswordHasher,
        hashing: PerKeyLimiter,
        throttle: AttemptThrottle,
        clock: Clock,
        policy: Policy,
        links: AccountLinks,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._attempts = Attempts(throttle, policy)
        self._clock = clock
        self._policy = policy
        self._links = links
        self._hashing = hashing

    async def request_verification(self, user: User) -> None:
        """Mail a new verification link to the signed-in user's email.

        ``EmailAlreadyVerified`` when there is nothing to prove; ``TooManyAttempts`` past
        one mail a minute or five a day.
        """
        if user.email_verified:
            raise EmailAlreadyVerified
        await self._attempts.count(
            f"verification-minute:{user.id}",
            limit=VERIFICATION_MAILS_PER_MINUTE,
            window_seconds=MINUTE,
        )
        await self._attempts.count(
            f"verification-day:{user.id}", limit=VERIFICATION_MAILS_PER_DAY, window_seconds=DAY
        )
        async with self._uow_factory() as uow:
            current = await uow.users.find_by_id(user.id)
            if current is None:
                raise NotAuthenticated
            if current.email_verified:
                raise EmailAlreadyVerified
            await self._links.send_verification(uow, current, self._clock.now())
            await uow.commit()

    async def verify_email(self, token: str) -> User:
        """Mark the email verified with the token of a verification link; the user.

        ``InvalidAccountLink`` for a token that is unknown, expired, used, meant for
        something else, or sent to an address the account no longer has.
        """
        async with self._uow_factory() as uow:
            user = await self._links.redeem(uow, token, TokenPurpose.VERIFY, self._clock.now())
            user = msgspec.structs.replace(user, email_verified=True)
            await uow.users.update(user)
            await uow.commit()
        return user

    async def forgot_password(self, *, email: str, client_ip: str | None = None) -> None:
        """Queue a reset link for the account with ``email``, if there is one.

        Known and unknown emails get the same answer after the same work: one lookup and
        one transaction with the same statements until its last writes (the mail is
        queued, never sent here). Counted with the network's sign-in attempts, and at
        most three an hour per email (``TooManyAttempts``).
        """
        email = normalise_email(email)
        await self._attempts.count_sign_in(SIGN_IN, client_ip)
        await self._attempts.count(
            f"reset-mail:{email_key(email)}", limit=RESET_MAILS_PER_HOUR, window_seconds=HOUR
        )
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await uow.users.find_by_email(email)
            if user is None:
                # The statements of the other branch, on an id nobody has.
                await uow.account_tokens.void(uuid.uuid4(), TokenPurpose.RESET, now)
            else:
                await self._links.send_reset(uow, user, now)
            await uow.account_events.add(
                AccountEvent(
                    user_id=user.id if user else None,
                    kind="password_reset_requested",
                    client_network=network_of(client_ip),
                    created_at=now,
                )
            )
            await uow.commit()

    async def reset_password(
        self, *, token: str, password: str, client_ip: str | None = None
    ) -> SignedIn:
        """Set a new password with the token of a reset link, and sign in.

        The email counts as verified from then on; every session of the account and
        every other reset link is revoked. ``InvalidAccountLink`` for a bad token,
        ``InvalidInput`` for a password the rules refuse.
        """
        check_password(password)
        async with self._uow_factory() as uow:
            await self._links.check(uow, token, TokenPurpose.RESET, self._clock.now())
        async with self._hashing.slot(network_of(client_ip)):
            password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await self._links.redeem(uow, token, TokenPurpose.RESET, now)
            await uow.account_tokens.void(user.id, TokenPurpose.RESET, now)
            user = msgspec.structs.replace(
                user,
                password_hash=password_hash,
                email_verified=True,
                last_login_at=now,
                last_login_location=client_ip,
            )
            signed_in = await self._replace_sessions(uow, user, "password_reset", client_ip)
            await uow.commit()
        return signed_in

    async def change_password(
        self,
        *,
        user: User,
        current_password: str,
        new_password: str,
        client_ip: str | None = None,
    ) -> SignedIn:
        """Change the signed-in user's password: every other session ends, and the
        current one is replaced by a new one.

        ``WrongPassword`` for a wrong current password (throttled like a sign-in),
        ``InvalidInput`` for a new password the rules refuse.
        """
        check_password(new_password)
        async with (
            self._attempts.sign_in(SIGN_IN, client_ip, failure=WrongPassword),
            self._hashing.slot(network_of(client_ip)),
        ):
            if (
                user.password_hash is None
                or len(current_password) > MAX_PASSWORD_LENGTH
                or not await self._hasher.verify(user.password_hash, current_password)
            ):
                raise WrongPassword
            password_hash = await self._hasher.hash(new_password)
        async with self._uow_factory() as uow:
            current = await uow.users.find_by_id(user.id)
            if current is None or current.password_hash != user.password_hash:
                raise WrongPassword  # changed or erased meanwhile: check again
            current = msgspec.structs.replace(current, password_hash=password_hash)
            signed_in = await self._replace_sessions(uow, current, "password_changed", client_ip)
            await uow.commit()
        return signed_in

    async def _replace_sessions(
        self, uow: UnitOfWork, user: User, kind: str, client_ip: str | None
    ) -> SignedIn:
        """Store ``user``, end all their sessions, record ``kind``, and start a new one."""
        now = self._clock.now()
        await uow.users.update(user)
        await uow.sessions.delete_for_user(user.id)
        await uow.account_events.add(
            AccountEvent(
                user_id=user.id, kind=kind, client_network=network_of(client_ip), created_at=now
            )
        )
        return await start_session(uow, user, now=now, ttl=self._policy.session_ttl)
