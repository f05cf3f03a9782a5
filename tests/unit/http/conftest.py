"""Fixtures for the HTTP tests: clients over apps built from any settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from adapters.google import GoogleIdTokenVerifier
from entrypoints.container import Container
from entrypoints.http import create_app
from support.google_tokens import CLIENT_ID, GoogleTokenFactory

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]


@pytest.fixture
async def open_client() -> AsyncIterator[OpenClient]:
    """Open a test client over an app built from a container; closed after the test."""
    async with AsyncExitStack() as stack:

        async def open_(container: Container) -> Client:
            client = AsyncTestClient(create_app(container))
            return await stack.enter_async_context(client)

        yield open_


@pytest.fixture(scope="session")
def google_tokens() -> GoogleTokenFactory:
    """Signs Google-style ID tokens with a local key (made once: RSA keys are slow)."""
    return GoogleTokenFactory()


@pytest.fixture
def google_container(
    make_container: Callable[..., Container], google_tokens: GoogleTokenFactory
) -> Container:
    """A container with Google login on, verifying tokens against the local key."""
    container = make_container(GOOGLE_CLIENT_ID=CLIENT_ID)
    container.google_verifier.override(GoogleIdTokenVerifier(CLIENT_ID, google_tokens.request))
    return container
