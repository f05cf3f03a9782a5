"""The composition root picks the image generator from the settings and owns the
OpenRouter HTTP client's life: opened with the process, closed when it ends."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from adapters.images import OfflineImageGenerator
from adapters.memory.storage import MemoryStorage
from adapters.openrouter import OpenRouterImageGenerator
from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.storage import PostgresStorage
from entrypoints.announcements import announce_profile
from entrypoints.container import (
    build_container,
    build_worker_pool,
    running_resources,
)
from entrypoints.settings import SettingsError, load_settings
from picpaygo_core.policy import Policy

OPENROUTER = {
    "OPENROUTER_API_KEY": "sk-or-test",
    "OPENROUTER_URL": "http://127.0.0.1:9/api/v1",
    "DATABASE_URL": "memory://",
}


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
        announce_profile(build_container(settings))

    assert isinstance(build_container(settings).generator(), OfflineImageGenerator)
    assert any("offline image generator" in record.getMessage() for record in caplog.records)


def test_the_openrouter_generator_is_announced_with_its_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="picpaygo"):
        settings = load_settings({**OPENROUTER, "OPENROUTER_MODEL": "acme/painter"})
        announce_profile(build_container(settings))

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


def test_memory_url_picks_the_memory_family_which_serves_every_storage_port() -> None:
    container = build_container(load_settings({"DATABASE_URL": "memory://"}))

    storage = container.storage()

    assert isinstance(storage, MemoryStorage)
    assert not storage.shared
    assert container.uow_factory() is storage.uow_factory
    assert container.storage_probe() is storage.health_probe
    assert container.wakeup() is storage.wakeup
    assert container.throttle() is storage.throttle


def test_a_postgresql_url_picks_the_postgres_family_without_connecting() -> None:
    container = build_container(load_settings({"DATABASE_URL": "postgresql://app@127.0.0.1:9/x"}))

    storage = container.storage()

    assert isinstance(storage, PostgresStorage)
    assert storage.shared
    assert container.uow_factory() is storage.uow_factory
    assert container.wakeup() is storage.wakeup
    assert list(storage.chores) == [storage.throttle.forget_expired]


def test_the_worker_pool_runs_the_storage_familys_chores_too() -> None:
    container = build_container(load_settings({"DATABASE_URL": "postgresql://app@127.0.0.1:9/x"}))

    pool = build_worker_pool(container, 1)

    assert container.storage().throttle.forget_expired in pool._chores


def test_the_upload_pixel_limit_is_the_policys() -> None:
    assert build_container(load_settings({})).inspector().max_pixels == Policy().max_image_pixels
    limited = build_container(load_settings({"MAX_IMAGE_PIXELS": "1000"}))
    assert limited.inspector().max_pixels == 1000


async def test_the_memory_family_opens_and_closes_with_nothing_to_do() -> None:
    container = build_container(load_settings({"DATABASE_URL": "memory://"}))

    async with running_resources(container, listen=True), container.uow_factory()() as uow:
        assert await uow.users.find_by_email("nobody@example.com") is None


def test_unset_database_url_picks_postgresql_on_the_embedded_server_without_starting_it(
    tmp_path: Path,
) -> None:
    container = build_container(load_settings({"PICPAYGO_DATA_DIR": str(tmp_path)}))

    storage = container.storage()

    assert isinstance(storage, PostgresStorage)
    assert isinstance(storage.server, EmbeddedPostgres)
    assert storage.server.data_dir == tmp_path
    assert storage.migrate_on_start
    assert storage.shared
    assert list(tmp_path.iterdir()) == []
