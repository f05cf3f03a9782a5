"""Mailed links: their tokens (stored by hash, single use, bound to a purpose and an
email, expiring) and the outbox mail that carries them, written in one unit of work."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from uuid import UUID

from picpaygo_core.errors import InvalidAccountLink
from picpaygo_core.models import AccountToken, MailStatus, OutgoingMail, TokenPurpose, User
from picpaygo_core.ports import UnitOfWork
from picpaygo_core.services.account_mail import (
    MailContent,
    link_to,
    reset_mail,
    verification_mail,
)
from picpaygo_core.services.sessions import (
    MAX_TOKEN_LENGTH,
    hash_session_token,
    new_session_token,
)
from picpaygo_core.validation import email_key

VERIFICATION_TTL = timedelta(hours=48)


def new_mail(
    recipient: str, content: MailContent, *, user_id: UUID | None, now: datetime
) -> OutgoingMail:
    """An outbox mail, due at once."""
    return OutgoingMail(
        id=uuid.uuid4(),
        recipient=recipient,
        subject=content.subject,
        text=content.text,
        html=content.html,
        user_id=user_id,
        status=MailStatus.QUEUED,
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )


class AccountLinks:
    """Issues and redeems the tokens of mailed links."""

    def __init__(self, *, public_url: str, reset_ttl: timedelta) -> None:
        self.public_url = public_url.rstrip("/")
        self.reset_ttl = reset_ttl

    async def send_verification(self, uow: UnitOfWork, user: User, now: datetime) -> None:
        """Queue a verification link to the user's email (in ``uow``, with its token)."""
        token = await self._issue(uow, user, TokenPurpose.VERIFY, now, VERIFICATION_TTL)
        content = verification_mail(link_to(self.public_url, "verify", token), VERIFICATION_TTL)
        await uow.outbox.add(new_mail(user.email, content, user_id=user.id, now=now))

    async def send_reset(self, uow: UnitOfWork, user: User, now: datetime) -> None:
        """Queue a reset link to the user's email; every older reset link is void."""
        await uow.account_tokens.void(user.id, TokenPurpose.RESET, now)
        token = await self._issue(uow, user, TokenPurpose.RESET, now, self.reset_ttl)
        content = reset_mail(link_to(self.public_url, "reset", token), self.reset_ttl)
        await uow.outbox.add(new_mail(user.email, content, user_id=user.id, now=now))

    async def check(
        self, uow: UnitOfWork, token: str, purpose: TokenPurpose, now: datetime
    ) -> None:
        """``InvalidAccountLink`` unless ``token`` could be redeemed for ``purpose`` now
        (changes nothing: a look before slow work such as hashing a password)."""
        await self._usable(uow, token, purpose, now)

    async def redeem(
        self, uow: UnitOfWork, token: str, purpose: TokenPurpose, now: datetime
    ) -> User:
        """Use ``token`` for ``purpose``: its user, if the token is unused, unexpired,
        meant for ``purpose`` and the user's email is still the one it was sent to.
        Otherwise ``InvalidAccountLink`` (one sentence for every reason)."""
        found = await self._usable(uow, token, purpose, now)
        user = await uow.users.find_by_id(found.user_id)
        if user is None or email_key(user.email) != email_key(found.email):
            raise InvalidAccountLink
        if not await uow.account_tokens.use(found.token_hash, now):
            raise InvalidAccountLink  # a racing use took it first
        return user

    async def _usable(
        self, uow: UnitOfWork, token: str, purpose: TokenPurpose, now: datetime
    ) -> AccountToken:
        found = await self._find(uow, token)
        if found is None or found.purpose is not purpose or not found.usable(now):
            raise InvalidAccountLink
        return found

    async def _issue(
        self, uow: UnitOfWork, user: User, purpose: TokenPurpose, now: datetime, ttl: timedelta
    ) -> str:
        token = new_session_token()
        await uow.account_tokens.add(
            AccountToken(
                token_hash=hash_session_token(token),
                purpose=purpose,
                user_id=user.id,
                email=user.email,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        return token

    async def _find(self, uow: UnitOfWork, token: str) -> AccountToken | None:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        return await uow.account_tokens.find(hash_session_token(token))
