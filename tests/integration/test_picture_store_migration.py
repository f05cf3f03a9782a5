"""Migration 0006 on a database from before it: every picture's bytes move from the
``images`` row to the database's picture store, under the key the service would have
given it, and the record keeps its key, size and content type, no bytes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from adapters.postgres import PostgresDatabase, available_migrations, migrate
from adapters.postgres.pictures import PostgresPictureStore
from support.postgres import opened, throwaway_database

PICTURE_STORE_VERSION = 6
PHOTO = b"\xff\xd8\xff" + b"photo" * 100
OUTPUT = b"\x89PNG\r\n\x1a\n" + b"picture" * 100
STRAY = b"RIFF\x00\x00\x00\x00WEBPstray"


def apply_before_the_picture_store(url: str) -> None:
    """The schema as it was before migration 0006."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in available_migrations():
            if migration.version >= PICTURE_STORE_VERSION:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )


def old_images(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A running job's photo, a finished job's picture, and an image no job names."""
    now = datetime.now(UTC)
    photo_id, output_id, stray_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    running, done = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(url) as conn:
        for image_id, data, content_type in (
            (photo_id, PHOTO, "image/jpeg"),
            (output_id, OUTPUT, "image/png"),
            (stray_id, STRAY, "image/webp"),
        ):
            conn.execute(
                "INSERT INTO images (id, data, content_type, created_at) VALUES (%s, %s, %s, %s)",
                (image_id, data, content_type, now),
            )
        for job_id, status, photo, output in (
            (running, "running", photo_id, None),
            (done, "succeeded", None, output_id),
        ):
            conn.execute(
                "INSERT INTO jobs (id, category, status, client_network, credit_source, "
                "input_image_id, output_image_id, attempts, created_at, updated_at, "
                "available_at) VALUES (%s, 'portraits', %s, '192.0.2.1', 'free', %s, %s, 1, "
                "%s, %s, %s)",
                (job_id, status, photo, output, now, now, now),
            )
    return running, done, stray_id


@pytest.mark.usefixtures("postgres_server")  # skips (or fails under CI) without PostgreSQL
def test_pictures_from_before_the_store_move_into_it_under_their_keys() -> None:
    with throwaway_database(migrated=False) as url:
        apply_before_the_picture_store(url)
        running, done, stray = old_images(url)

        applied = asyncio.run(migrate(PostgresDatabase(url, pool_size=1)))

        assert [m.version for m in applied] == [
            m.version for m in available_migrations() if m.version >= PICTURE_STORE_VERSION
        ]
        with psycopg.connect(url) as conn:
            records = {
                key: (size, content_type)
                for key, size, content_type in conn.execute(
                    "SELECT key, size, content_type FROM images"
                ).fetchall()
            }
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'images' ORDER BY ordinal_position"
                ).fetchall()
            ]
        assert records == {
            f"inputs/{running}": (len(PHOTO), "image/jpeg"),
            f"outputs/{done}.png": (len(OUTPUT), "image/png"),
            f"images/{stray}": (len(STRAY), "image/webp"),
        }
        assert "data" not in columns

        async def read_back() -> dict[str, bytes]:
            async with opened(PostgresDatabase(url, pool_size=1)) as database:
                store = PostgresPictureStore(database)
                keys = [stored.key async for stored in store.objects("")]
                return {key: await store.get(key) for key in keys}

        assert asyncio.run(read_back()) == {
            f"inputs/{running}": PHOTO,
            f"outputs/{done}.png": OUTPUT,
            f"images/{stray}": STRAY,
        }
