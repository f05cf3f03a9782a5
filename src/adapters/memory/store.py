"""The state behind the in-memory adapters, and the journal that undoes changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from adapters.process_job_changes import ProcessJobChanges
from picpaygo_core.models import (
    AccountEvent,
    AccountToken,
    IdempotencyRecord,
    Incident,
    Job,
    LedgerEntry,
    OutgoingMail,
    PaymentReversal,
    Purchase,
    Session,
    StoredImage,
    User,
)

K = TypeVar("K")
V = TypeVar("V")

_MISSING = object()


@dataclass(frozen=True)
class IdempotencyEntry:
    """A stored idempotency record and its times."""

    record: IdempotencyRecord
    created_at: datetime
    expires_at: datetime


@dataclass
class MemoryStore:
    """Everything the in-memory adapters keep. One lock serialises all units of work,
    which makes every transaction atomic and isolated (and balances race-free)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: dict[UUID, User] = field(default_factory=dict)
    user_ids_by_email: dict[str, UUID] = field(default_factory=dict)
    user_ids_by_google_id: dict[str, UUID] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    balances: dict[UUID, int] = field(default_factory=dict)
    ledger: dict[UUID, list[LedgerEntry]] = field(default_factory=dict)
    ledger_keys: set[str] = field(default_factory=set)
    free_credits: dict[str, int] = field(default_factory=dict)
    jobs: dict[UUID, Job] = field(default_factory=dict)
    pending_job_ids: dict[UUID, None] = field(default_factory=dict)
    images: dict[UUID, StoredImage] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    payment_customers: dict[UUID, str] = field(default_factory=dict)
    purchases: dict[UUID, Purchase] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyEntry] = field(default_factory=dict)
    purchase_ids_by_payment: dict[str, UUID] = field(default_factory=dict)
    payment_reversals: dict[str, PaymentReversal] = field(default_factory=dict)
    account_tokens: dict[str, AccountToken] = field(default_factory=dict)
    outbox: dict[UUID, OutgoingMail] = field(default_factory=dict)
    account_events: dict[int, AccountEvent] = field(default_factory=dict)
    # Followers of jobs, told of a job's change when its unit of work commits.
    job_changes: ProcessJobChanges = field(default_factory=ProcessJobChanges)


class Journal:
    """Undo actions of one unit of work, replayed in reverse on rollback."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._on_commit: list[Callable[[], None]] = []

    def put(self, mapping: MutableMapping[K, V], key: K, value: V) -> None:
        """``mapping[key] = value``, undoably."""
        previous = mapping.get(key, _MISSING)
        mapping[key] = value
        self._undo.append(lambda: _restore(mapping, key, previous))

    def pop(self, mapping: MutableMapping[K, V], key: K) -> None:
        """``del mapping[key]`` if present, undoably."""
        if key not in mapping:
            return
        previous = mapping.pop(key)
        self._undo.append(lambda: mapping.__setitem__(key, previous))

    def append(self, items: list[V], item: V) -> None:
        """``items.append(item)``, undoably."""
        items.append(item)
        self._undo.append(lambda: _drop_last(items))

    def add(self, items: set[K], item: K) -> None:
        """``items.add(item)``, undoably (the item must be new)."""
        items.add(item)
        self._undo.append(lambda: items.discard(item))

    def on_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the changes are kept (not if they are undone)."""
        self._on_commit.append(action)

    def rollback(self) -> None:
        """Undo every change, newest first."""
        self._on_commit.clear()
        while self._undo:
            self._undo.pop()()

    def forget(self) -> None:
        """Keep the changes (commit), then run what waited for it."""
        self._undo.clear()
        actions, self._on_commit = self._on_commit, []
        for action in actions:
            action()


def _drop_last(items: list[V]) -> None:
    items.pop()


def _restore(mapping: MutableMapping[K, V], key: K, previous: object) -> None:
    if previous is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = previous  # type: ignore[assignment]


class MemoryRepository:
    """Base of the in-memory repositories: they read the store and change it only
    through the journal of their unit of work."""

    def __init__(self, store: MemoryStore, journal: Journal) -> None:
        self._store = store
        self._journal = journal
