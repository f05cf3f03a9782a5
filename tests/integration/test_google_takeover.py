"""No pre-registration takeover, on every storage: whoever registered a victim's email
with a password is locked out once the victim signs in with Google."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from adapters.google import GoogleIdTokenVerifier
from entrypoints.container import Container
from picpaygo_core.errors import InvalidCredentials
from support.google_tokens import CLIENT_ID, GoogleTokenFactory

AsyncContainerFactory = Callable[..., Awaitable[Container]]
SQUATTER_PASSWORD = "squatter password"


async def test_the_squatters_sessions_and_password_stop_working_when_google_links(
    make_storage_container: AsyncContainerFactory,
) -> None:
    tokens = GoogleTokenFactory()
    container = await make_storage_container(GOOGLE_CLIENT_ID=CLIENT_ID)
    container.google_verifier.override(GoogleIdTokenVerifier(CLIENT_ID, tokens.request))
    auth = container.auth_service()
    email = tokens.claims()["email"]
    squatter = await auth.register(email=email, password=SQUATTER_PASSWORD)
    second_squatter_session = await auth.login(email=email, password=SQUATTER_PASSWORD)

    victim = await auth.google_login(credential=tokens.token())

    assert victim.user.id == squatter.user.id
    assert victim.user.password_hash is None
    assert await auth.current_user(squatter.token) is None
    assert await auth.current_user(second_squatter_session.token) is None
    with pytest.raises(InvalidCredentials):
        await auth.login(email=email, password=SQUATTER_PASSWORD)
    assert await auth.current_user(victim.token) is not None
    again = await auth.google_login(credential=tokens.token())
    assert await auth.current_user(victim.token) is not None  # a later sign-in revokes nothing
    assert again.user.id == victim.user.id
