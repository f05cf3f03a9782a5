"""Google ID-token verification with real RS256 tokens signed by a local key."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from adapters.google import CachingHttpxRequest, DisabledGoogleVerifier, GoogleIdTokenVerifier
from picpaygo_core.errors import GoogleLoginDisabled, GoogleUnavailable, InvalidGoogleToken
from picpaygo_core.models import GoogleIdentity
from support.google_tokens import (
    CLIENT_ID,
    FakeCertsRequest,
    GoogleTokenFactory,
    SigningKey,
    make_signing_key,
)


@pytest.fixture(scope="module")
def factory() -> GoogleTokenFactory:
    return GoogleTokenFactory()


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return make_signing_key("not-google")


@pytest.fixture
def verifier(factory: GoogleTokenFactory) -> GoogleIdTokenVerifier:
    return GoogleIdTokenVerifier(CLIENT_ID, factory.request)


async def test_a_valid_token_gives_the_identity_it_vouches_for(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    identity = await verifier.verify(factory.token())

    assert identity == GoogleIdentity(
        google_id="110169484474386276334",
        email="ada@example.com",
        email_verified=True,
        name="Ada",
        surname="Lovelace",
    )


async def test_certificates_are_fetched_from_google(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    await verifier.verify(factory.token())

    assert factory.request.urls[-1] == "https://www.googleapis.com/oauth2/v1/certs"


async def test_the_issuer_without_scheme_is_accepted(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    identity = await verifier.verify(factory.token(iss="accounts.google.com"))

    assert identity.google_id == "110169484474386276334"


async def test_a_bare_public_key_is_accepted_as_well_as_a_certificate(
    factory: GoogleTokenFactory,
) -> None:
    request = FakeCertsRequest({factory.key_id: factory.key.public_pem})

    identity = await GoogleIdTokenVerifier(CLIENT_ID, request).verify(factory.token())

    assert identity.email == "ada@example.com"


async def test_claims_are_tidied_and_a_string_email_verified_is_understood(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    token = factory.token(
        email="  Ada@Example.com ",
        email_verified="true",
        remove=["given_name", "family_name"],
    )

    identity = await verifier.verify(token)

    assert identity.email == "Ada@Example.com"
    assert identity.email_verified is True
    assert (identity.name, identity.surname) == (None, None)


async def test_an_unverified_email_is_reported_as_such(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    identity = await verifier.verify(factory.token(email_verified=False))

    assert identity.email_verified is False


@pytest.mark.parametrize(
    ("description", "claims"),
    [
        ("wrong audience", {"aud": "someone-else.apps.googleusercontent.com"}),
        ("expired", {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}),
        ("issued in the future", {"iat": int(time.time()) + 3600}),
        ("wrong issuer", {"iss": "https://evil.example"}),
        ("no email", {"remove": ["email"]}),
        ("blank email", {"email": "   "}),
        ("no subject", {"remove": ["sub"]}),
        ("no issuer", {"remove": ["iss"]}),
        ("no expiry", {"remove": ["exp"]}),
        ("no audience", {"remove": ["aud"]}),
    ],
)
async def test_a_token_with_bad_claims_is_refused(
    factory: GoogleTokenFactory,
    verifier: GoogleIdTokenVerifier,
    description: str,
    claims: dict[str, object],
) -> None:
    token = factory.token(**claims)  # type: ignore[arg-type]

    with pytest.raises(InvalidGoogleToken):
        await verifier.verify(token)


async def test_a_token_signed_by_another_key_is_refused(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier, other_key: SigningKey
) -> None:
    with pytest.raises(InvalidGoogleToken):
        await verifier.verify(factory.token(signed_by=other_key))


async def test_a_token_with_an_unknown_key_id_is_refused(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    with pytest.raises(InvalidGoogleToken):
        await verifier.verify(factory.token(key_id="rotated-away"))


async def test_a_token_with_a_tampered_payload_is_refused(
    factory: GoogleTokenFactory, verifier: GoogleIdTokenVerifier
) -> None:
    header, _, signature = factory.token().split(".")
    _, forged_payload, _ = factory.token(email="mallory@example.com").split(".")

    with pytest.raises(InvalidGoogleToken):
        await verifier.verify(f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "abc",
        "a.b.c",
        "x" * 10_000,
        "x" * 5_000 + ".y.z",
        "....",
        "é.é.é",
        "eyJhbGciOiJub25lIn0.e30.",  # alg "none", empty payload
        "WzFd.WzFd.AA",  # JSON arrays instead of objects
        "bnVsbA.bnVsbA.AA",  # JSON null
        "eyJhbGciOiJSUzI1NiJ9.!!!.AA",  # bad base64
        "eyJhbGciOiJIUzI1NiJ9.e30.AA",  # HMAC algorithm
    ],
)
async def test_garbage_is_refused_as_an_invalid_token(
    verifier: GoogleIdTokenVerifier, credential: str
) -> None:
    with pytest.raises(InvalidGoogleToken):
        await verifier.verify(credential)


async def test_a_certificate_endpoint_failure_is_reported_as_unavailable(
    factory: GoogleTokenFactory,
) -> None:
    request = FakeCertsRequest({}, status=503)

    with pytest.raises(GoogleUnavailable):
        await GoogleIdTokenVerifier(CLIENT_ID, request).verify(factory.token())


async def test_an_unreachable_google_is_reported_as_unavailable(
    factory: GoogleTokenFactory,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        verifier = GoogleIdTokenVerifier(CLIENT_ID, CachingHttpxRequest(client))
        with pytest.raises(GoogleUnavailable):
            await verifier.verify(factory.token())


async def test_certificates_are_fetched_once_for_many_logins_over_httpx(
    factory: GoogleTokenFactory,
) -> None:
    fetched: list[str] = []

    def certs(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(
            200,
            headers={"Cache-Control": "public, max-age=19790, must-revalidate, no-transform"},
            content=json.dumps({factory.key_id: factory.key.certificate_pem}).encode(),
        )

    with httpx.Client(transport=httpx.MockTransport(certs)) as client:
        verifier = GoogleIdTokenVerifier(CLIENT_ID, CachingHttpxRequest(client))
        for _ in range(3):
            await verifier.verify(factory.token())

    assert fetched == ["https://www.googleapis.com/oauth2/v1/certs"]


def test_a_verifier_needs_a_client_id() -> None:
    with pytest.raises(ValueError, match="GOOGLE_CLIENT_ID"):
        GoogleIdTokenVerifier("  ")


def test_a_verifier_without_a_request_builds_and_closes_its_own() -> None:
    verifier = GoogleIdTokenVerifier(CLIENT_ID)

    assert verifier.client_id == CLIENT_ID
    verifier.close()


async def test_the_disabled_verifier_refuses_every_login(factory: GoogleTokenFactory) -> None:
    verifier = DisabledGoogleVerifier()

    assert verifier.client_id is None
    with pytest.raises(GoogleLoginDisabled):
        await verifier.verify(factory.token())
