"""Accounts and sessions: register, log in with a password or with Google, sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from adapters.google import GoogleIdTokenVerifier
from adapters.passwords.pbkdf2_legacy import legacy_pbkdf2_hash
from entrypoints.container import Container
from picpaygo_core.errors import (
    EmailTaken,
    GoogleLoginDisabled,
    InvalidCredentials,
    InvalidGoogleToken,
    InvalidInput,
)
from picpaygo_core.models import User
from picpaygo_core.services.auth import hash_session_token
from support.fakes import FakeClock
from support.google_tokens import CLIENT_ID, GoogleTokenFactory

ContainerFactory = Callable[..., Container]

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
SESSION_TTL_HOURS = 168


async def register(container: Container, email: str = EMAIL, password: str = PASSWORD) -> str:
    """Register an account and return its session token."""
    signed_in = await container.auth_service().register(email=email, password=password)
    return signed_in.token


async def store_user(container: Container, user: User) -> None:
    async with container.uow_factory()() as uow:
        await uow.users.add(user)
        await uow.commit()


def legacy_user(email: str, password: str, clock: FakeClock) -> User:
    return User(
        id=uuid.uuid4(),
        email=email,
        password_hash=legacy_pbkdf2_hash(password),
        name="Ada",
        surname=None,
        is_google_account=False,
        google_id=None,
        created_at=clock.now(),
    )


def user_count(container: Container) -> int:
    return len(container.storage().store.users)


# --- registering -----------------------------------------------------------------------


async def test_registering_creates_an_account_and_signs_it_in(container: Container) -> None:
    signed_in = await container.auth_service().register(
        email=EMAIL, password=PASSWORD, name="Ada", surname="Lovelace"
    )

    assert signed_in.user.email == EMAIL
    assert (signed_in.user.name, signed_in.user.surname) == ("Ada", "Lovelace")
    assert signed_in.user.is_google_account is False
    current = await container.auth_service().current_user(signed_in.token)
    assert current is not None
    assert current.id == signed_in.user.id


async def test_registering_stores_only_a_hash_of_the_session_token(container: Container) -> None:
    token = await register(container)

    stored_keys = set(container.storage().store.sessions)
    assert stored_keys == {hash_session_token(token)}
    assert token not in stored_keys


async def test_a_session_token_carries_at_least_256_random_bits(container: Container) -> None:
    token = await register(container)

    # URL-safe base64 holds 6 bits per character: 256 bits need 43 characters.
    assert len(token) >= 43


async def test_registering_stores_an_argon2id_hash_and_not_the_password(
    container: Container,
) -> None:
    await register(container)

    (user,) = container.storage().store.users.values()
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_registering_an_email_taken_in_another_letter_case_raises_email_taken(
    container: Container,
) -> None:
    await register(container, email="Ada@Example.com")

    with pytest.raises(EmailTaken):
        await register(container, email="ada@EXAMPLE.com")
    assert user_count(container) == 1


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"email": "not-an-email"}, id="email-without-at"),
        pytest.param({"email": "ada@localhost"}, id="email-without-domain-dot"),
        pytest.param({"email": "ada lovelace@example.com"}, id="email-with-space"),
        pytest.param({"email": ""}, id="empty-email"),
        pytest.param({"password": "x" * 7}, id="password-of-7"),
        pytest.param({"password": "x" * 129}, id="password-of-129"),
        pytest.param({"name": "n" * 101}, id="name-of-101"),
        pytest.param({"surname": "s" * 101}, id="surname-of-101"),
    ],
)
async def test_registering_with_an_invalid_value_raises_invalid_input_and_stores_nobody(
    container: Container, fields: dict[str, str]
) -> None:
    values = {"email": EMAIL, "password": PASSWORD, **fields}

    with pytest.raises(InvalidInput):
        await container.auth_service().register(**values)
    assert user_count(container) == 0
    assert container.storage().store.sessions == {}


async def test_registering_accepts_the_longest_and_shortest_allowed_values(
    container: Container,
) -> None:
    await container.auth_service().register(email=EMAIL, password="x" * 8, name="n" * 100)
    await container.auth_service().register(
        email="grace@example.com", password="y" * 128, surname="s" * 100
    )

    assert user_count(container) == 2


# --- logging in ------------------------------------------------------------------------


async def test_logging_in_with_the_right_password_starts_a_new_session(
    container: Container,
) -> None:
    await register(container)

    signed_in = await container.auth_service().login(email=EMAIL, password=PASSWORD)

    current = await container.auth_service().current_user(signed_in.token)
    assert current is not None
    assert current.email == EMAIL
    assert len(container.storage().store.sessions) == 2


async def test_a_wrong_password_and_an_unknown_email_fail_with_the_same_message(
    container: Container,
) -> None:
    await register(container)

    with pytest.raises(InvalidCredentials) as wrong_password:
        await container.auth_service().login(email=EMAIL, password="wrong password")
    with pytest.raises(InvalidCredentials) as unknown_email:
        await container.auth_service().login(email="nobody@example.com", password=PASSWORD)

    assert wrong_password.value.message == unknown_email.value.message
    assert str(wrong_password.value) == str(unknown_email.value)


async def test_a_failed_login_starts_no_session(container: Container) -> None:
    await register(container)
    sessions_before = dict(container.storage().store.sessions)

    with pytest.raises(InvalidCredentials):
        await container.auth_service().login(email=EMAIL, password="wrong password")

    assert container.storage().store.sessions == sessions_before


async def test_logging_in_ignores_the_letter_case_of_the_email(container: Container) -> None:
    await register(container, email="Ada@Example.com")

    signed_in = await container.auth_service().login(email="  aDA@example.COM ", password=PASSWORD)

    assert signed_in.user.email == "Ada@Example.com"


async def test_a_legacy_pbkdf2_password_logs_in_and_is_rehashed_to_argon2id(
    container: Container, clock: FakeClock
) -> None:
    user = legacy_user(EMAIL, PASSWORD, clock)
    await store_user(container, user)

    signed_in = await container.auth_service().login(email=EMAIL, password=PASSWORD)

    assert signed_in.user.id == user.id
    stored = container.storage().store.users[user.id]
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")
    again = await container.auth_service().login(email=EMAIL, password=PASSWORD)
    assert again.user.id == user.id


async def test_a_wrong_password_leaves_a_legacy_hash_untouched(
    container: Container, clock: FakeClock
) -> None:
    user = legacy_user(EMAIL, PASSWORD, clock)
    await store_user(container, user)

    with pytest.raises(InvalidCredentials):
        await container.auth_service().login(email=EMAIL, password="wrong password")

    assert container.storage().store.users[user.id].password_hash == user.password_hash


# --- sessions --------------------------------------------------------------------------


async def test_a_session_token_names_its_user(container: Container) -> None:
    token = await register(container)

    user = await container.auth_service().current_user(token)

    assert user is not None
    assert user.email == EMAIL


@pytest.mark.parametrize("token", [None, "", "not-a-session", "x" * 500])
async def test_without_a_valid_token_there_is_no_current_user(
    container: Container, token: str | None
) -> None:
    await register(container)

    assert await container.auth_service().current_user(token) is None


async def test_a_session_still_works_just_before_its_lifetime_is_over(
    container: Container, clock: FakeClock
) -> None:
    token = await register(container)

    clock.advance(hours=SESSION_TTL_HOURS, seconds=-1)

    assert await container.auth_service().current_user(token) is not None


async def test_a_session_expired_after_session_ttl_is_rejected_and_purged(
    container: Container, clock: FakeClock
) -> None:
    token = await register(container)

    clock.advance(hours=SESSION_TTL_HOURS)

    assert await container.auth_service().current_user(token) is None
    assert container.storage().store.sessions == {}


async def test_the_session_ttl_hours_setting_sets_the_session_lifetime(
    make_container: ContainerFactory, clock: FakeClock
) -> None:
    container = make_container(SESSION_TTL_HOURS="2")
    token = await register(container)

    clock.advance(hours=2)

    assert await container.auth_service().current_user(token) is None


async def test_logging_out_ends_the_session(container: Container) -> None:
    token = await register(container)

    await container.auth_service().logout(token)

    assert await container.auth_service().current_user(token) is None
    assert container.storage().store.sessions == {}


async def test_logging_out_ends_only_that_session(container: Container) -> None:
    first = await register(container)
    second = (await container.auth_service().login(email=EMAIL, password=PASSWORD)).token

    await container.auth_service().logout(first)

    assert await container.auth_service().current_user(second) is not None


@pytest.mark.parametrize("token", [None, "", "garbage", "x" * 500])
async def test_logging_out_without_a_real_token_does_nothing(
    container: Container, token: str | None
) -> None:
    kept = await register(container)

    await container.auth_service().logout(token)

    assert await container.auth_service().current_user(kept) is not None


async def test_purging_expired_sessions_deletes_and_counts_only_expired_ones(
    container: Container, clock: FakeClock
) -> None:
    await register(container)
    await container.auth_service().login(email=EMAIL, password=PASSWORD)
    clock.advance(hours=100)
    fresh = await register(container, email="grace@example.com")
    clock.advance(hours=SESSION_TTL_HOURS - 100)

    purged = await container.auth_service().purge_expired_sessions()

    assert purged == 2
    assert set(container.storage().store.sessions) == {hash_session_token(fresh)}
    assert await container.auth_service().current_user(fresh) is not None


# --- Google ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google() -> GoogleTokenFactory:
    return GoogleTokenFactory()


@pytest.fixture
def google_container(make_container: ContainerFactory, google: GoogleTokenFactory) -> Container:
    container = make_container(GOOGLE_CLIENT_ID=CLIENT_ID)
    container.google_verifier.override(GoogleIdTokenVerifier(CLIENT_ID, google.request))
    return container


async def test_a_first_google_login_creates_a_google_account(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    signed_in = await google_container.auth_service().google_login(credential=google.token())

    user = signed_in.user
    assert user.email == "ada@example.com"
    assert user.is_google_account is True
    assert user.google_id == "110169484474386276334"
    assert user.password_hash is None
    assert (user.name, user.surname) == ("Ada", "Lovelace")
    assert await google_container.auth_service().current_user(signed_in.token) == user


async def test_a_second_google_login_with_the_same_subject_creates_no_other_account(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    first = await google_container.auth_service().google_login(credential=google.token())

    second = await google_container.auth_service().google_login(credential=google.token())

    assert second.user.id == first.user.id
    assert user_count(google_container) == 1


async def test_a_google_login_finds_its_account_by_subject_after_an_email_change(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    first = await google_container.auth_service().google_login(credential=google.token())

    second = await google_container.auth_service().google_login(
        credential=google.token(email="ada.lovelace@example.org")
    )

    assert second.user.id == first.user.id
    assert user_count(google_container) == 1


async def test_a_google_login_links_the_password_account_with_the_same_email(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    registered = await google_container.auth_service().register(
        email="Ada@Example.com", password=PASSWORD
    )

    signed_in = await google_container.auth_service().google_login(credential=google.token())

    assert signed_in.user.id == registered.user.id
    assert signed_in.user.is_google_account is True
    assert signed_in.user.google_id == "110169484474386276334"
    assert user_count(google_container) == 1


async def test_linking_google_locks_out_the_unproven_password_and_older_sessions(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    auth = google_container.auth_service()
    squatter_token = await register(google_container)
    squatter = await auth.current_user(squatter_token)

    victim = await auth.google_login(credential=google.token())

    assert squatter is not None
    assert victim.user.id == squatter.id
    assert await auth.current_user(squatter_token) is None
    assert await auth.current_user(victim.token) is not None
    with pytest.raises(InvalidCredentials):
        await auth.login(email=EMAIL, password=PASSWORD)


async def test_another_google_account_with_the_same_email_cannot_take_over_a_linked_account(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    first = await google_container.auth_service().google_login(credential=google.token())

    with pytest.raises(InvalidGoogleToken):
        await google_container.auth_service().google_login(
            credential=google.token(sub="999999999999999999999")
        )

    (user,) = google_container.storage().store.users.values()
    assert user.google_id == first.user.google_id
    again = await google_container.auth_service().google_login(credential=google.token())
    assert again.user.id == first.user.id


async def test_a_google_only_account_cannot_log_in_with_a_password(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    await google_container.auth_service().google_login(credential=google.token())

    with pytest.raises(InvalidCredentials):
        await google_container.auth_service().login(email=EMAIL, password=PASSWORD)


async def test_a_google_token_with_an_unverified_email_is_refused(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    with pytest.raises(InvalidGoogleToken):
        await google_container.auth_service().google_login(
            credential=google.token(email_verified=False)
        )
    assert user_count(google_container) == 0


async def test_an_unverified_google_email_does_not_take_over_a_password_account(
    google_container: Container, google: GoogleTokenFactory
) -> None:
    await register(google_container)

    with pytest.raises(InvalidGoogleToken):
        await google_container.auth_service().google_login(
            credential=google.token(email_verified=False)
        )
    (user,) = google_container.storage().store.users.values()
    assert user.google_id is None


async def test_google_login_is_refused_when_no_client_id_is_configured(
    container: Container, google: GoogleTokenFactory
) -> None:
    assert container.auth_service().google_client_id is None

    with pytest.raises(GoogleLoginDisabled):
        await container.auth_service().google_login(credential=google.token())
    assert user_count(container) == 0
