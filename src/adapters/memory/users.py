"""In-memory users and their sessions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from adapters.memory.idempotency import MemoryIdempotencyRepository
from adapters.memory.store import MemoryRepository
from picpaygo_core.errors import EmailTaken
from picpaygo_core.models import CallerLookup, KeyClaim, Session, User
from picpaygo_core.services.idempotency import idempotency_scope
from picpaygo_core.validation import email_key


class MemoryUserRepository(MemoryRepository):
    """Users, indexed by their email key (see ``email_key``) and by Google id."""

    async def add(self, user: User) -> None:
        """Store a new user; ``EmailTaken`` if an email with the same key exists."""
        key = email_key(user.email)
        if key in self._store.user_ids_by_email:
            raise EmailTaken
        if user.google_id and user.google_id in self._store.user_ids_by_google_id:
            raise EmailTaken  # as PostgreSQL's unique index on google_id would
        self._journal.put(self._store.users, user.id, user)
        self._journal.put(self._store.user_ids_by_email, key, user.id)
        if user.google_id:
            self._journal.put(self._store.user_ids_by_google_id, user.google_id, user.id)

    async def update(self, user: User) -> None:
        """Replace a user, keeping the Google-id index in step."""
        previous = self._store.users.get(user.id)
        if previous and previous.google_id and previous.google_id != user.google_id:
            self._journal.pop(self._store.user_ids_by_google_id, previous.google_id)
        if previous and email_key(previous.email) != email_key(user.email):
            self._journal.pop(self._store.user_ids_by_email, email_key(previous.email))
            self._journal.put(self._store.user_ids_by_email, email_key(user.email), user.id)
        self._journal.put(self._store.users, user.id, user)
        if user.google_id:
            self._journal.put(self._store.user_ids_by_google_id, user.google_id, user.id)

    async def find_by_id(self, user_id: UUID) -> User | None:
        return self._store.users.get(user_id)

    async def find_by_email(self, email: str) -> User | None:
        user_id = self._store.user_ids_by_email.get(email_key(email))
        return self._store.users.get(user_id) if user_id else None

    async def find_by_google_id(self, google_id: str) -> User | None:
        user_id = self._store.user_ids_by_google_id.get(google_id)
        return self._store.users.get(user_id) if user_id else None

    async def delete(self, user_id: UUID) -> None:
        """Erase the user and what hangs on them; the ledger and purchases stay."""
        user = self._store.users.get(user_id)
        if user is None:
            return
        self._journal.pop(self._store.users, user_id)
        self._journal.pop(self._store.user_ids_by_email, email_key(user.email))
        if user.google_id:
            self._journal.pop(self._store.user_ids_by_google_id, user.google_id)
        self._journal.pop(self._store.balances, user_id)
        self._journal.pop(self._store.payment_customers, user_id)
        for token_hash, session in list(self._store.sessions.items()):
            if session.user_id == user_id:
                self._journal.pop(self._store.sessions, token_hash)
        for token_hash, token in list(self._store.account_tokens.items()):
            if token.user_id == user_id:
                self._journal.pop(self._store.account_tokens, token_hash)

    async def payment_customer(self, user_id: UUID) -> str | None:
        return self._store.payment_customers.get(user_id)

    async def set_payment_customer(self, user_id: UUID, customer_id: str) -> str:
        """Keep the first customer id a user gets."""
        kept = self._store.payment_customers.get(user_id)
        if kept is not None:
            return kept
        self._journal.put(self._store.payment_customers, user_id, customer_id)
        return customer_id


class MemorySessionRepository(MemoryRepository):
    """Sessions keyed by the hash of their token."""

    async def add(self, session: Session) -> None:
        self._journal.put(self._store.sessions, session.token_hash, session)

    async def find(self, token_hash: str) -> Session | None:
        return self._store.sessions.get(token_hash)

    async def find_with_user(self, token_hash: str) -> tuple[Session, User] | None:
        session = self._store.sessions.get(token_hash)
        user = self._store.users.get(session.user_id) if session else None
        return (session, user) if session and user else None

    async def find_caller(
        self,
        token_hash: str | None,
        client_network: str,
        *,
        initial_free: int,
        claim: KeyClaim | None = None,
    ) -> CallerLookup:
        session = self._store.sessions.get(token_hash) if token_hash else None
        user = self._store.users.get(session.user_id) if session else None
        record = None
        if claim is not None:
            valid = session is not None and user is not None and not session.is_expired(claim.now)
            scope = idempotency_scope(user.id if valid and user else None, client_network)
            record = await MemoryIdempotencyRepository(self._store, self._journal).claim(
                scope, claim
            )
        return CallerLookup(
            session=session,
            user=user,
            balance=self._store.balances.get(user.id, 0) if user else 0,
            free_credits=self._store.free_credits.get(client_network, initial_free),
            claim=record,
        )

    async def delete(self, token_hash: str) -> None:
        self._journal.pop(self._store.sessions, token_hash)

    async def delete_for_user(self, user_id: UUID) -> int:
        theirs = [k for k, s in self._store.sessions.items() if s.user_id == user_id]
        for token_hash in theirs:
            self._journal.pop(self._store.sessions, token_hash)
        return len(theirs)

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, s in self._store.sessions.items() if s.is_expired(now)]
        for token_hash in expired:
            self._journal.pop(self._store.sessions, token_hash)
        return len(expired)
