"""JSON bodies are strict: wrong types are a 400 naming the field, other media types a 415."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}


async def signed_in(client: Client) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": "ada@example.com", "password": "correct horse"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/credits/consume", b'{"amount": "1"}', "amount"),
        ("/api/credits/consume", b'{"amount": 1.0}', "amount"),
        ("/api/credits/consume", b'{"amount": true}', "amount"),
        ("/api/credits/checkout", b'{"pack": "2e1"}', "pack"),
        ("/api/credits/checkout", b'{"pack": 20.0}', "pack"),
        ("/api/credits/checkout", b'{"pack": "20"}', "pack"),
        ("/api/auth/login", b'{"email": 1, "password": "correct horse"}', "email"),
        ("/api/auth/register", b'{"email": "a@b.co", "password": ["x"]}', "password"),
        ("/api/auth/google", b'{"credential": 12}', "credential"),
    ],
)
async def test_a_wrong_type_is_a_400_naming_the_field_and_nothing_happens(
    client: Client, path: str, body: bytes, field: str
) -> None:
    await signed_in(client)
    before = (await client.get("/api/credits")).json()

    response = await client.post(path, content=body, headers=JSON)

    assert response.status_code == 400, response.text
    assert f"`{field}`" in response.json()["detail"]
    assert response.json()["extra"][0]["key"] == field
    assert (await client.get("/api/credits")).json() == before


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "text/json"]
)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/credits/consume", b'{"amount": 1}'),
        ("/api/credits/checkout", b'{"pack": 5}'),
        ("/api/auth/login", b'{"email": "ada@example.com", "password": "correct horse"}'),
        ("/api/auth/register", b'{"email": "bob@example.com", "password": "correct horse"}'),
    ],
)
async def test_a_json_endpoint_answers_415_to_another_media_type(
    client: Client, path: str, body: bytes, content_type: str | None
) -> None:
    await signed_in(client)
    before = (await client.get("/api/credits")).json()
    headers = {"content-type": content_type} if content_type else {}

    response = await client.post(path, content=body, headers=headers)

    assert response.status_code == 415, response.text
    assert response.json()["status_code"] == 415
    assert (await client.get("/api/credits")).json() == before


async def test_json_with_a_charset_and_an_empty_consume_body_are_accepted(client: Client) -> None:
    with_charset = await client.post(
        "/api/credits/consume",
        content=b'{"amount": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    empty = await client.post("/api/credits/consume")

    assert with_charset.status_code == 200, with_charset.text
    assert empty.status_code == 200, empty.text
    assert empty.json()["freeCredits"] == 1


async def test_an_unknown_field_is_named(client: Client) -> None:
    response = await client.post("/api/credits/consume", content=b'{"amonut": 1}', headers=JSON)

    assert response.status_code == 400
    assert "`amonut`" in response.json()["detail"]


async def test_malformed_json_is_a_400_saying_so_once(client: Client) -> None:
    response = await client.post("/api/credits/consume", content=b'{"amount": 1', headers=JSON)

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("The request body is not valid JSON: "), detail
    assert detail.count("request body") == 1, detail
