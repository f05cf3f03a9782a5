"""Accounts and sessions: register, log in (password or Google), log out, who am I."""

from __future__ import annotations

import secrets
import uuid

import msgspec

from picpaygo_core.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidGoogleToken,
)
from picpaygo_core.fairness import PerKeyLimiter
from picpaygo_core.models import GoogleIdentity, SignedIn, User
from picpaygo_core.policy import Policy
from picpaygo_core.ports import (
    AttemptThrottle,
    Clock,
    GoogleTokenVerifier,
    PasswordHasher,
    SessionReads,
    UnitOfWork,
    UnitOfWorkFactory,
)
from picpaygo_core.services.account_links import AccountLinks
from picpaygo_core.services.attempts import SIGN_IN, Attempts, network_of
from picpaygo_core.services.sessions import (
    MAX_TOKEN_LENGTH,
    forget_session,
    hash_session_token,
    new_session_token,
    session_token_hash,
    start_session,
)
from picpaygo_core.validation import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    check_password,
    clean_name,
    has_invisible_characters,
    normalise_email,
)

__all__ = ["MAX_TOKEN_LENGTH", "AuthService", "hash_session_token", "new_session_token"]


class AuthService:
    """Use cases for accounts and sessions."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        session_reads: SessionReads,
        hasher: PasswordHasher,
        hashing: PerKeyLimiter,
        google: GoogleTokenVerifier,
        throttle: AttemptThrottle,
        clock: Clock,
        policy: Policy,
        links: AccountLinks,
    ) -> None:
        self._uow_factory = uow_factory
        self._session_reads = session_reads
        self._hasher = hasher
        self._google = google
        self._attempts = Attempts(throttle, policy)
        self._links = links
        self._clock = clock
        self._policy = policy
        self._dummy_hash: str | None = None
        self._hashing = hashing

    @property
    def google_client_id(self) -> str | None:
        """The Google OAuth client id, or None when Google login is off."""
        return self._google.client_id

    async def register(
        self,
        *,
        email: str,
        password: str,
        name: str | None = None,
        surname: str | None = None,
        client_ip: str | None = None,
    ) -> SignedIn:
        """Create an email + password account, sign it in, and mail a verification link
        (queued in the same transaction).

        Raises ``InvalidInput`` for a bad email, password or name and ``EmailTaken``
        when the email (in any letter case) has an account already.
        """
        await self._attempts.count_sign_in("register", client_ip)
        email = normalise_email(email)
        check_password(password)
        name = clean_name(name, "Name")
        surname = clean_name(surname, "Surname")
        async with self._uow_factory() as uow:
            if await uow.users.find_by_email(email) is not None:
                raise EmailTaken
        async with self._hashing.slot(network_of(client_ip)):
            password_hash = await self._hasher.hash(password)
        now = self._clock.now()
        user = User(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            name=name,
            surname=surname,
            is_google_account=False,
            google_id=None,
            created_at=now,
            last_login_at=now,
            last_login_location=client_ip,
        )
        async with self._uow_factory() as uow:
            await uow.users.add(user)
            await self._links.send_verification(uow, user, now)
            signed_in = await self._start_session(uow, user)
            await uow.commit()
        return signed_in

    async def login(self, *, email: str, password: str, client_ip: str | None = None) -> SignedIn:
        """Sign in with email and password.

        Unknown email and wrong password raise the same ``InvalidCredentials`` and take
        about as long, so the answer does not reveal which accounts exist. A password
        stored in an outdated format is upgraded to Argon2id here. Failed attempts are
        throttled per client network (``TooManyAttempts``).
        """
        async with (
            self._attempts.sign_in(SIGN_IN, client_ip, failure=InvalidCredentials),
            self._hashing.slot(network_of(client_ip)),
        ):
            return await self._login(email, password, client_ip)

    async def _login(self, email: str, password: str, client_ip: str | None) -> SignedIn:
        email = email.strip()
        if (
            len(email) > MAX_EMAIL_LENGTH
            or len(password) > MAX_PASSWORD_LENGTH
            or has_invisible_characters(email)
        ):
            raise InvalidCredentials  # cannot match an account; not worth hashing
        async with self._uow_factory() as uow:
            user = await uow.users.find_by_email(email)
        if user is None or user.password_hash is None:
            await self._hasher.verify(await self._dummy_password_hash(), password)
            raise InvalidCredentials
        if not await self._hasher.verify(user.password_hash, password):
            raise InvalidCredentials
        new_hash = None
        if self._hasher.needs_rehash(user.password_hash):
            new_hash = await self._hasher.hash(password)
        async with self._uow_factory() as uow:
            current = await uow.users.find_by_id(user.id)
            if current is None:
                raise InvalidCredentials
            updated = msgspec.structs.replace(
                current,
                password_hash=new_hash or current.password_hash,
                last_login_at=self._clock.now(),
                last_login_location=client_ip,
            )
            await uow.users.update(updated)
            signed_in = await self._start_session(uow, updated)
            await uow.commit()
        return signed_in

    async def google_login(self, *, credential: str, client_ip: str | None = None) -> SignedIn:
        """Sign in, or sign up on first use, with a Google ID token.

        An existing password account with the same email is linked to the Google
        identity rather than duplicated: as it is when its email is verified; when it is
        not, nobody who merely knew its unproven password, or held a session from
        before, stays in (its sessions and password go).
        """
        async with self._attempts.sign_in(SIGN_IN, client_ip, failure=InvalidGoogleToken):
            identity = await self._google.verify(credential)
        if not identity.email_verified:
            raise InvalidGoogleToken("Your Google email address is not verified.")
        try:
            return await self._google_sign_in(identity, client_ip)
        except EmailTaken:
            # Two first logins raced; the other one created the account, so link to it.
            return await self._google_sign_in(identity, client_ip)

    async def _google_sign_in(self, identity: GoogleIdentity, client_ip: str | None) -> SignedIn:
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await uow.users.find_by_google_id(identity.google_id)
            if user is None:
                user = await uow.users.find_by_email(identity.email)
                if user is not None and user.google_id not in (None, identity.google_id):
                    raise InvalidGoogleToken(
                        "This email address belongs to an account linked to another Google account."
                    )
            if user is None:
                user = User(
                    id=uuid.uuid4(),
                    email=identity.email,
                    password_hash=None,
                    name=identity.name,
                    surname=identity.surname,
                    is_google_account=True,
                    google_id=identity.google_id,
                    created_at=now,
                    last_login_at=now,
                    last_login_location=client_ip,
                    email_verified=True,
                )
                await uow.users.add(user)
            else:
                if user.google_id is None and not user.email_verified:
                    # The first Google sign-in proves the email; nobody who merely knew
                    # the unproven password, or held a session from before, stays in.
                    await uow.sessions.delete_for_user(user.id)
                    user = msgspec.structs.replace(user, password_hash=None)
                user = msgspec.structs.replace(
                    user,
                    is_google_account=True,
                    email_verified=True,
                    google_id=identity.google_id,
                    name=user.name or identity.name,
                    surname=user.surname or identity.surname,
                    last_login_at=now,
                    last_login_location=client_ip,
                )
                await uow.users.update(user)
            signed_in = await self._start_session(uow, user)
            await uow.commit()
        return signed_in

    async def logout(self, token: str | None) -> None:
        """End the session of ``token``; does nothing when there is none."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return
        async with self._uow_factory() as uow:
            await uow.sessions.delete(hash_session_token(token))
            await uow.commit()

    async def current_user(self, token: str | None) -> User | None:
        """The user signed in with ``token``, or None. An expired session is purged here."""
        token_hash = session_token_hash(token)
        if token_hash is None:
            return None
        found = await self._session_reads.session_with_user(token_hash)
        if found is None:
            return None
        session, user = found
        if session.is_expired(self._clock.now()):
            await forget_session(self._uow_factory, token_hash)
            return None
        return user

    async def purge_expired_sessions(self) -> int:
        """Delete every expired session; returns how many."""
        async with self._uow_factory() as uow:
            purged = await uow.sessions.purge_expired(self._clock.now())
            await uow.commit()
        return purged

    async def _start_session(self, uow: UnitOfWork, user: User) -> SignedIn:
        return await start_session(uow, user, now=self._clock.now(), ttl=self._policy.session_ttl)

    async def _dummy_password_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash
