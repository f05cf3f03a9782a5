"""Unit tests touch no I/O: their storage is in memory (``DATABASE_URL=memory://``)."""

from __future__ import annotations

import pytest

from adapters.postgres.embedded import EmbeddedPostgres
from support.cli import invoke, prepared  # noqa: F401


class EmbeddedServerInUnitTest(AssertionError):
    """A unit test reached for the embedded PostgreSQL server."""


@pytest.fixture(autouse=True)
def no_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a unit test that would start the embedded server (settings without
    ``DATABASE_URL=memory://``) instead of quietly creating ``.picpaygo/``."""

    def refuse(self: EmbeddedPostgres) -> None:
        raise EmbeddedServerInUnitTest(
            f"a unit test tried to start {self.description}; build its container with "
            "DATABASE_URL=memory:// (the make_container fixture does)"
        )

    monkeypatch.setattr(EmbeddedPostgres, "attach", refuse)
