"""The composition root picks the image generator from the settings and owns the
OpenRouter HTTP client's life: opened with the process, closed when it ends."""

from __future__ import annotations

import logging

import httpx
import pytest

from adapters.images import OfflineImageGenerator
from adapters.openrouter import OpenRouterImageGenerator
from entrypoints.container import announce_profile, build_container, running_resources
from entrypoints.settings import SettingsError, load_settings

OPENROUTER = {"OPENROUTER_API_KEY": "sk-or-test", "OPENROUTER_URL": "http://127.0.0.1:9/api/v1"}


def test_an_api_key_selects_the_openrouter_generator() -> None:
    container = build_container(load_settings(OPENROUTER))

    generator = container.generator()

    assert isinstance(generator, OpenRouterImageGenerator)
    assert generator is container.generator()


def test_without_an_api_key_the_offline_generator_is_used_and_announced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings({})

    with caplog.at_level(logging.INFO, logger="picpaygo"):
        announce_profile(settings)

    assert isinstance(build_container(settings).generator(), OfflineImageGenerator)
    assert any("offline image generator" in record.getMessage() for record in caplog.records)


def test_the_openrouter_generator_is_announced_with_its_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="picpaygo"):
        announce_profile(load_settings({**OPENROUTER, "OPENROUTER_MODEL": "acme/painter"}))

    lines = [record.getMessage() for record in caplog.records]
    assert any("OpenRouter model acme/painter" in line for line in lines)
    assert not any("offline" in line for line in lines)


def test_production_refuses_the_offline_generator() -> None:
    environ = {
        "PICPAYGO_ENV": "production",
        "DATABASE_URL": "postgresql://picpaygo@db/picpaygo",
        "PAYMENTS_MODE": "disabled",
    }

    with pytest.raises(SettingsError, match=r"^OPENROUTER_API_KEY is required"):
        load_settings(environ)


async def test_the_shared_http_client_is_timed_as_configured_and_closed_with_the_process() -> None:
    settings = load_settings(
        {
            **OPENROUTER,
            "OPENROUTER_CONNECT_TIMEOUT_SECONDS": "3",
            "OPENROUTER_READ_TIMEOUT_SECONDS": "45",
        }
    )
    container = build_container(settings)
    client: httpx.AsyncClient = container.openrouter_client()

    async with running_resources(container, listen=False):
        assert not client.is_closed
        assert (client.timeout.connect, client.timeout.read) == (3.0, 45.0)

    assert client.is_closed
