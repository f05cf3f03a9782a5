"""What the app does around the endpoints: API docs, CORS, health, and the last-resort 500."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable

from litestar import Litestar
from litestar.testing import AsyncTestClient

from entrypoints.container import Container
from picpaygo_core.models import Caller, Job, OperatorFailure
from support.fakes import ScriptedGenerator
from support.images import jpeg_bytes

Client = AsyncTestClient[Litestar]
OpenClient = Callable[[Container], Awaitable[Client]]

# The endpoint table of the product specification.
SPEC_ENDPOINTS = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/google"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("get", "/api/auth/google/config"),
    ("post", "/api/auth/email/verification"),
    ("post", "/api/auth/email/verify"),
    ("post", "/api/auth/password/forgot"),
    ("post", "/api/auth/password/reset"),
    ("post", "/api/auth/password"),
    ("get", "/api/account/export"),
    ("delete", "/api/account"),
    ("get", "/api/credits"),
    ("post", "/api/credits/consume"),
    ("post", "/api/credits/checkout"),
    ("get", "/api/credits/packs"),
    ("get", "/api/credits/purchases"),
    ("get", "/api/credits/purchases/{}"),
    ("post", "/api/stripe/webhook"),
    ("post", "/api/generate"),
    ("get", "/api/generate"),
    ("get", "/api/generate/{}"),
    ("get", "/api/generate/{}/events"),
    ("get", "/api/generate/{}/image"),
    ("get", "/api/health"),
    ("get", "/api/health/live"),
    ("get", "/api/health/ready"),
    ("get", "/metrics"),
}
ORIGIN = "https://app.example"


def _without_parameter_names(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


async def test_the_api_docs_are_served_as_html(client: Client) -> None:
    response = await client.get("/api/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "PicPayGo API" in response.text


async def test_the_docs_page_allows_only_its_own_files_and_its_one_inline_script(
    client: Client,
) -> None:
    response = await client.get("/api/docs")

    policy = response.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe" not in policy
    assert "http" not in policy


async def test_the_openapi_schema_lists_every_endpoint_of_the_spec(client: Client) -> None:
    response = await client.get("/api/docs/openapi.json")

    assert response.status_code == 200
    documented = {
        (method, _without_parameter_names(path))
        for path, operations in response.json()["paths"].items()
        for method in operations
    }
    assert documented >= SPEC_ENDPOINTS


async def test_the_openapi_schema_documents_no_endpoint_outside_the_spec(client: Client) -> None:
    paths = (await client.get("/api/docs/openapi.json")).json()["paths"]

    documented = {
        (method, _without_parameter_names(path))
        for path, operations in paths.items()
        for method in operations
    }
    assert documented <= SPEC_ENDPOINTS


async def test_a_preflight_from_an_allowed_origin_may_send_credentials(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(CORS_ORIGINS=f"{ORIGIN}, https://other.example"))

    response = await client.options(
        "/api/credits/consume",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )

    assert response.status_code < 300
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_a_request_from_an_allowed_origin_is_answered_for_it(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(CORS_ORIGINS=ORIGIN))

    response = await client.get("/api/credits", headers={"Origin": ORIGIN})

    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_another_origin_is_not_allowed(
    make_container: Callable[..., Container], open_client: OpenClient
) -> None:
    client = await open_client(make_container(CORS_ORIGINS=ORIGIN))

    preflight = await client.options(
        "/api/credits/consume",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    request = await client.get("/api/credits", headers={"Origin": "https://evil.example"})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in request.headers
    assert preflight.status_code < 500


async def test_without_cors_origins_no_origin_is_allowed(client: Client) -> None:
    response = await client.options(
        "/api/credits/consume",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )

    assert "access-control-allow-origin" not in response.headers


async def test_health_says_ok_with_its_checks(client: Client) -> None:
    response = await client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"storage": "ok", "imageGenerator": "ok"},
    }


async def test_health_is_degraded_but_200_while_the_image_model_refuses_the_key(
    client: Client, container: Container, generator: ScriptedGenerator
) -> None:
    generator.outcomes.append(OperatorFailure(message="OpenRouter refused the API key (401)"))
    await container.generation_service().create_job(
        Caller(user=None, client_network="192.0.2.1"), category="portraits", image=jpeg_bytes()
    )
    await container.job_processor().process_next()

    response = await client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"storage": "ok", "imageGenerator": "OpenRouter refused the API key (401)"},
    }


class DownStorageProbe:
    name = "database"

    async def check(self) -> str | None:
        return "the database is unreachable"


async def test_health_is_503_when_storage_is_down_and_the_generator_state_unknown(
    container: Container, open_client: OpenClient
) -> None:
    container.storage_probe.override(DownStorageProbe())
    client = await open_client(container)

    response = await client.get("/api/health")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "the database is unreachable",
            "imageGenerator": "unknown while the storage is unreachable",
        },
    }


class BrokenGenerationService:
    """Stands in for the generation use cases, with a bug."""

    async def job(self, caller: Caller, job_id: uuid.UUID) -> Job:
        raise RuntimeError("secret internals: /srv/picpaygo/db.sqlite row 42")


async def test_an_unexpected_error_is_a_500_json_body_without_a_traceback(
    container: Container, open_client: OpenClient
) -> None:
    container.generation_service.override(BrokenGenerationService())
    client = await open_client(container)

    response = await client.get(f"/api/generate/{uuid.uuid4()}")

    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"status_code", "detail"}
    assert body["status_code"] == 500
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
