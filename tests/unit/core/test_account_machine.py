"""A hypothesis state machine over register / verify / forgot / reset / change / delete
(in-memory storage, the real services), keeping: at most one usable reset link per
account, no session older than the account's last password change or reset, and a
deleted account never signs in again."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from adapters.memory import MemoryStore
from entrypoints.container import Container, build_container
from entrypoints.settings import load_settings
from picpaygo_core.errors import DomainError
from picpaygo_core.models import TokenPurpose
from support.fakes import FakeClock, cheap_hasher
from support.mail import tokens_in

EMAILS = ("ada@example.com", "grace@example.com")
PASSWORDS = ("first password", "second password", "third password")


class Accounts(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = FakeClock()
        container: Container = build_container(
            load_settings(
                {"DATABASE_URL": "memory://", "JOB_WORKERS": "0", "AUTH_ATTEMPTS_PER_MINUTE": "0"}
            )
        )
        container.clock.override(self.clock)
        container.hasher.override(cheap_hasher())
        self.auth = container.auth_service()
        self.recovery = container.recovery_service()
        self.accounts = container.account_service()
        self.store: MemoryStore = container.storage().store
        self.deleted: set[UUID] = set()
        self.deleted_passwords: dict[str, set[str]] = {}
        self.changed_at: dict[UUID, Any] = {}

    def teardown(self) -> None:
        self.runner.close()

    def run(self, coroutine: Any) -> Any:
        self.clock.advance(seconds=61)
        try:
            return self.runner.run(coroutine)
        except DomainError:
            return None

    def user(self, email: str) -> Any:
        return next((u for u in self.store.users.values() if u.email == email), None)

    def tokens(self, kind: str, email: str) -> list[str]:
        return [
            token
            for mail in self.store.outbox.values()
            if mail.recipient == email
            for token in tokens_in(mail.text, kind)
        ]

    @rule(email=st.sampled_from(EMAILS), password=st.sampled_from(PASSWORDS))
    def register(self, email: str, password: str) -> None:
        self.run(self.auth.register(email=email, password=password))

    @rule(email=st.sampled_from(EMAILS))
    def forgot(self, email: str) -> None:
        self.run(self.recovery.forgot_password(email=email))

    @rule(email=st.sampled_from(EMAILS), newest=st.booleans())
    def verify(self, email: str, newest: bool) -> None:
        tokens = self.tokens("verify", email)
        if tokens:
            self.run(self.recovery.verify_email(tokens[-1 if newest else 0]))

    @rule(email=st.sampled_from(EMAILS), newest=st.booleans(), password=st.sampled_from(PASSWORDS))
    def reset(self, email: str, newest: bool, password: str) -> None:
        tokens = self.tokens("reset", email)
        if not tokens:
            return
        signed_in = self.run(
            self.recovery.reset_password(token=tokens[-1 if newest else 0], password=password)
        )
        event("reset worked" if signed_in is not None else "reset refused")
        if signed_in is not None:
            self.changed_at[signed_in.user.id] = self.clock.now()

    @rule(
        email=st.sampled_from(EMAILS),
        current=st.sampled_from(PASSWORDS),
        new=st.sampled_from(PASSWORDS),
    )
    def change(self, email: str, current: str, new: str) -> None:
        user = self.user(email)
        if user is None:
            return
        signed_in = self.run(
            self.recovery.change_password(user=user, current_password=current, new_password=new)
        )
        if signed_in is not None:
            self.changed_at[user.id] = self.clock.now()

    @rule(email=st.sampled_from(EMAILS), password=st.sampled_from(PASSWORDS))
    def delete(self, email: str, password: str) -> None:
        user = self.user(email)
        if user is None:
            return
        self.run(self.accounts.delete(user=user, password=password))
        if self.user(email) is None:
            event("deleted")
            self.deleted.add(user.id)
            self.deleted_passwords.setdefault(email, set()).update(PASSWORDS)

    @rule(email=st.sampled_from(EMAILS), password=st.sampled_from(PASSWORDS))
    def login(self, email: str, password: str) -> None:
        signed_in = self.run(self.auth.login(email=email, password=password))
        if signed_in is not None:
            assert signed_in.user.id not in self.deleted

    @invariant()
    def at_most_one_usable_reset_link_per_account(self) -> None:
        now = self.clock.now()
        for user_id in self.store.users:
            usable = [
                t
                for t in self.store.account_tokens.values()
                if t.user_id == user_id and t.purpose is TokenPurpose.RESET and t.usable(now)
            ]
            assert len(usable) <= 1

    @invariant()
    def no_session_older_than_the_last_password_change(self) -> None:
        for session in self.store.sessions.values():
            changed = self.changed_at.get(session.user_id)
            assert changed is None or session.created_at >= changed

    @invariant()
    def a_deleted_account_is_gone(self) -> None:
        assert not self.deleted & set(self.store.users)
        assert not {s.user_id for s in self.store.sessions.values()} & self.deleted


Accounts.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestAccounts = Accounts.TestCase
