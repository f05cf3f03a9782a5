"""Control and format characters in emails and names are a 422."""

from __future__ import annotations

import json

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
PASSWORD = "correct horse"


@pytest.mark.parametrize("char", ["\x00", "\u00ad", "\u202e", "\u200d", "\x1b"])
@pytest.mark.parametrize("field", ["email", "name", "surname"])
async def test_an_invisible_character_is_a_422(client: Client, char: str, field: str) -> None:
    body = {"email": "ada@example.com", "password": PASSWORD, field: ""}
    body[field] = f"ad{char}a@example.com" if field == "email" else f"Ad{char}a"

    response = await client.post(
        "/api/auth/register",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422, response.text


async def test_nfd_and_nfc_spellings_are_one_account(client: Client) -> None:
    first = await client.post(
        "/api/auth/register", json={"email": "cafe\u0301@example.com", "password": PASSWORD}
    )
    second = await client.post(
        "/api/auth/register", json={"email": "caf\u00e9@example.com", "password": PASSWORD}
    )
    login = await client.post(
        "/api/auth/login", json={"email": "CAF\u00c9@EXAMPLE.COM", "password": PASSWORD}
    )

    assert (first.status_code, second.status_code, login.status_code) == (201, 409, 200)


async def test_a_lone_surrogate_escape_is_a_400(client: Client) -> None:
    response = await client.post(
        "/api/auth/register",
        content=b'{"email": "a\\ud800@example.com", "password": "correct horse"}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400, response.text
