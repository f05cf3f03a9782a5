"""The OpenAPI document is complete enough to generate a client from.

The walk is generic: it covers whatever routes the app has, so a new route is checked
the moment it exists. It fails on an operation without a description, an error status
the route can answer with but does not document (with the error body), a string enum
that is not declared, and a schema field or parameter without a description.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entrypoints.container import build_container
from entrypoints.http import create_app
from entrypoints.http.openapi_errors import ROUTE_ERRORS
from entrypoints.openapi_document import openapi_document
from entrypoints.settings import load_settings

Document = dict[str, Any]
REPOSITORY = Path(__file__).resolve().parents[3]
COMMITTED = REPOSITORY / "openapi.json"
ERROR_REF = "#/components/schemas/ErrorResponse"
METHODS = ("get", "put", "post", "delete", "patch")
# Fields whose values come from a fixed set: each must declare it.
ENUM_FIELDS = {"status", "category", "pack", "currency_code"}

# The "notable errors" column of the product specification's endpoint table: each of
# these must be documented (the generic rules below add the rest).
SPEC_ERRORS: dict[tuple[str, str], set[int]] = {
    ("post", "/api/auth/register"): {409, 422},
    ("post", "/api/auth/login"): {401},
    ("post", "/api/auth/google"): {401, 503},
    ("get", "/api/auth/me"): {401},
    ("post", "/api/credits/consume"): {402},
    ("post", "/api/credits/checkout"): {401, 422, 502, 503},
    ("get", "/api/credits/purchases"): {401},
    ("get", "/api/credits/purchases/{purchaseId}"): {401, 404},
    ("post", "/api/generate"): {402, 413, 415, 422},
    ("get", "/api/generate/{jobId}"): {404},
    ("get", "/api/generate"): {401},
    ("get", "/api/generate/{jobId}/image"): {404},
    ("get", "/api/health"): {503},
    ("get", "/api/health/ready"): {503},
    ("post", "/api/stripe/webhook"): {400, 503},
}
# Operations that touch no database, so have no 503 to document.
WITHOUT_STORAGE = {
    ("get", "/api/health/live"),
    ("get", "/api/auth/google/config"),
    ("get", "/metrics"),
    ("get", "/api/credits/packs"),
}


@pytest.fixture(scope="module")
def document() -> Document:
    return openapi_document(load_settings({"JOB_WORKERS": "0", "DATABASE_URL": "memory://"}))


def operations(document: Document) -> Iterator[tuple[str, str, Document]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(document: Document, schema: Document) -> Document:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def fields(document: Document) -> Iterator[tuple[str, str, Document]]:
    """Every property of every object schema: (owner, name, schema)."""

    def walk(owner: str, schema: Document) -> Iterator[tuple[str, str, Document]]:
        for name, prop in schema.get("properties", {}).items():
            yield owner, name, prop
            yield from walk(f"{owner}.{name}", prop)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from walk(owner, schema[key])
        for key in ("oneOf", "anyOf", "allOf"):
            for part in schema.get(key, []):
                yield from walk(owner, part)

    for name, schema in document["components"]["schemas"].items():
        yield from walk(name, schema)
    for method, path, operation in operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            yield from walk(f"{method} {path}", media.get("schema", {}))


def test_every_operation_has_an_id_a_summary_and_a_description(document: Document) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(document)
        if not operation.get("description", "").strip()
        or not operation.get("operationId")
        or not operation.get("summary")
    ]
    assert missing == []


def test_every_operation_is_in_the_error_table(document: Document) -> None:
    unknown = {op["operationId"] for _, _, op in operations(document)} - set(ROUTE_ERRORS)
    assert unknown == set(), (
        "add these operations to ROUTE_ERRORS in entrypoints/http/openapi_errors.py"
    )


def test_every_error_status_a_route_can_answer_is_documented_with_the_error_body(
    document: Document,
) -> None:
    problems = []
    for method, path, operation in operations(document):
        documented = {int(status) for status in operation["responses"] if status.isdigit()}
        expected = set(SPEC_ERRORS.get((method, path), set()))
        if "requestBody" in operation:
            expected |= {400, 413}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add(404)
        if (method, path) not in WITHOUT_STORAGE:
            expected.add(503)
        if missing := expected - documented:
            problems.append(f"{method.upper()} {path} does not document {sorted(missing)}")
        for status in documented - {200, 201, 202, 204, 307}:
            content = operation["responses"][str(status)].get("content", {})
            schema = content.get("application/json", {}).get("schema", {})
            if path.startswith("/api/health") and status == 503:
                continue  # readiness answers 503 with its own report
            if schema.get("$ref") != ERROR_REF:
                problems.append(f"{method.upper()} {path} {status} lacks the error body")
    assert problems == []


def test_every_field_and_parameter_has_a_description(document: Document) -> None:
    undocumented = [
        f"{owner}.{name}"
        for owner, name, prop in fields(document)
        if not prop.get("description") and "$ref" not in prop
    ]
    undocumented += [
        f"{method.upper()} {path} parameter {parameter['name']}"
        for method, path, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
    ]
    undocumented += [
        name
        for name, schema in document["components"]["schemas"].items()
        if not schema.get("description")
    ]
    assert undocumented == []


def test_fields_with_a_fixed_set_of_values_declare_their_enum(document: Document) -> None:
    def declares_enum(schema: Document) -> bool:
        schema = resolve(document, schema)
        if "enum" in schema or "const" in schema:
            return True
        parts = schema.get("oneOf", []) + schema.get("anyOf", []) + schema.get("allOf", [])
        return bool(parts) and all(
            declares_enum(p) or resolve(document, p).get("type") == "null" for p in parts
        )

    undeclared = [
        f"{owner}.{name}"
        for owner, name, prop in fields(document)
        if name in ENUM_FIELDS and not declares_enum(prop)
    ]
    assert undeclared == []


def test_documented_constraints_match_the_rules(document: Document) -> None:
    schemas = document["components"]["schemas"]
    register = schemas["RegisterRequest"]["properties"]
    assert (register["password"]["minLength"], register["password"]["maxLength"]) == (8, 128)
    assert register["email"]["maxLength"] == 254
    assert schemas["ConsumeRequest"]["properties"]["amount"]["minimum"] == 1
    assert schemas["CheckoutRequest"]["properties"]["pack"]["enum"] == [5, 10, 20]


def test_the_image_endpoint_documents_its_image_media_types(document: Document) -> None:
    content = document["paths"]["/api/generate/{jobId}/image"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"image/png", "image/jpeg", "image/webp"}


def test_the_session_cookie_is_a_security_scheme(document: Document) -> None:
    scheme = document["components"]["securitySchemes"]["sessionCookie"]
    me = document["paths"]["/api/auth/me"]["get"]

    assert (scheme["type"], scheme["in"], scheme["name"]) == (
        "apiKey",
        "cookie",
        "picpaygo_session",
    )
    assert me["security"] == [{"sessionCookie": []}]


def test_path_parameters_use_the_public_camel_case_names(document: Document) -> None:
    names = {name for path in document["paths"] for name in re.findall(r"\{([^}]+)\}", path)}
    assert names
    assert all("_" not in name for name in names), names


def test_the_committed_openapi_json_is_current(document: Document) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == document, (
        "openapi.json is out of date: regenerate it with `picpaygo openapi > openapi.json`"
    )


async def test_the_app_serves_the_same_document() -> None:
    from litestar.testing import AsyncTestClient

    settings = load_settings({"JOB_WORKERS": "0", "DATABASE_URL": "memory://"})
    app = create_app(build_container(settings))
    async with AsyncTestClient(app) as client:
        served = (await client.get("/api/docs/openapi.json")).json()

    assert served == openapi_document(settings)


PUBLIC = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/google"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/google/config"),
    ("get", "/api/credits/packs"),
    ("post", "/api/auth/email/verify"),
    ("post", "/api/auth/password/forgot"),
    ("post", "/api/auth/password/reset"),
    ("get", "/api/health"),
    ("get", "/api/health/live"),
    ("get", "/api/health/ready"),
    ("post", "/api/stripe/webhook"),
    ("get", "/metrics"),
}
SESSION_REQUIRED = [{"sessionCookie": []}]


def test_only_operations_that_use_the_session_declare_it(document: Document) -> None:
    assert "security" not in document  # no lock on every operation
    for method, path, operation in operations(document):
        security = operation.get("security")
        if (method, path) in PUBLIC:
            assert not security, f"{method} {path} is public: no lock"
        elif (method, path) in {
            ("get", "/api/auth/me"),
            ("post", "/api/credits/checkout"),
            ("get", "/api/credits/purchases"),
            ("get", "/api/credits/purchases/{purchaseId}"),
            ("get", "/api/generate"),
            ("post", "/api/auth/email/verification"),
            ("post", "/api/auth/password"),
            ("get", "/api/account/export"),
            ("delete", "/api/account"),
        }:
            assert security == SESSION_REQUIRED, f"{method} {path} needs a session"
        else:
            assert security == [{}, *SESSION_REQUIRED], f"{method} {path}: session optional"


def test_each_error_response_has_examples_of_its_own_status(document: Document) -> None:
    problems = []
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if not status.isdigit() or int(status) < 400:
                continue
            media = response.get("content", {}).get("application/json", {})
            if media.get("schema", {}).get("$ref") != ERROR_REF:
                continue
            examples = media.get("examples", {})
            if not examples:
                problems.append(f"{method} {path} {status}: no example")
            for example in examples.values():
                value = example["value"]
                if value["status_code"] != int(status) or not value["detail"]:
                    problems.append(f"{method} {path} {status}: example {value}")
    assert problems == []
    unavailable = document["paths"]["/api/auth/register"]["post"]["responses"]["503"]
    (example,) = unavailable["content"]["application/json"]["examples"].values()
    assert example["value"]["detail"] == "The service's storage is unavailable; try again shortly."
