"""One contract for the picture-store port, run against every adapter: the database's
own store (PostgreSQL, and its in-memory twin) and an S3-compatible store (moto's S3
API on 127.0.0.1, behind a gate that checks presigned URLs as AWS does)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.pictures import MemoryPictureStore
from adapters.postgres import PostgresDatabase
from adapters.postgres.pictures import PostgresPictureStore
from adapters.s3 import S3Location, S3PictureStore
from adapters.system import SystemClock
from picpaygo_core.errors import PictureMissing, PictureStoreUnavailable
from picpaygo_core.ports import PictureStore
from support.postgres import opened
from support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server
from support.server import free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
PREFIX = "tenant/pictures"


def s3_store(url: str, bucket: str, *, prefix: str = PREFIX, ttl: int = 300) -> S3PictureStore:
    location = S3Location(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=url,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    return S3PictureStore(location, url_ttl_seconds=ttl)


@pytest.fixture(params=["memory", "postgres", "s3"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[PictureStore]:
    """The picture store under test."""
    if request.param == "memory":
        yield MemoryPictureStore(SystemClock())
    elif request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        async with opened(PostgresDatabase(url, pool_size=4)) as database:
            yield PostgresPictureStore(database)
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        yield s3_store(server.url, server.new_bucket())


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our test URL
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def test_a_put_object_is_read_back_byte_for_byte_with_its_size(store: PictureStore) -> None:
    await store.put("inputs/one", PNG, "image/png")

    assert await store.get("inputs/one") == PNG
    assert await store.size("inputs/one") == len(PNG)


async def test_a_second_put_under_one_key_replaces_the_first(store: PictureStore) -> None:
    await store.put("outputs/one.png", PNG, "image/png")
    await store.put("outputs/one.png", b"second", "image/png")

    assert await store.get("outputs/one.png") == b"second"
    assert await store.size("outputs/one.png") == len(b"second")
    assert [o.key async for o in store.objects("outputs/")] == ["outputs/one.png"]


async def test_a_missing_object_is_missing_not_an_outage(store: PictureStore) -> None:
    with pytest.raises(PictureMissing):
        await store.get("inputs/never")
    assert await store.size("inputs/never") is None
    await store.delete("inputs/never")  # nothing happens


async def test_a_deleted_object_is_gone(store: PictureStore) -> None:
    await store.put("inputs/gone", PNG, "image/png")
    await store.delete("inputs/gone")

    with pytest.raises(PictureMissing):
        await store.get("inputs/gone")
    assert [o async for o in store.objects("inputs/")] == []


async def test_the_listing_has_every_object_under_a_prefix_in_key_order(
    store: PictureStore,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    keys = [f"inputs/{n:04d}" for n in range(130)]  # more than one page of the database's
    await asyncio.gather(*(store.put(key, key.encode(), "image/jpeg") for key in keys))
    await store.put("outputs/x.png", PNG, "image/png")

    listed = [o async for o in store.objects("inputs/")]

    assert [o.key for o in listed] == keys
    assert [o.size for o in listed] == [len(k) for k in keys]
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert all(before <= o.created_at <= after for o in listed)
    assert [o.key async for o in store.objects("")] == [*keys, "outputs/x.png"]


async def test_a_download_url_serves_the_object_or_there_is_none(store: PictureStore) -> None:
    await store.put("outputs/two.png", PNG, "image/png")

    url = await store.download_url("outputs/two.png")

    if url is not None:  # the database stores give none: the API serves the bytes
        assert await asyncio.to_thread(fetch, url) == (200, PNG)


async def test_a_store_that_answers_passes_its_check(store: PictureStore) -> None:
    assert await store.check() is None


# --- the S3-compatible store's own promises ---------------------------------------------


async def test_objects_are_kept_under_the_configured_prefix(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    store = s3_store(s3_server.url, bucket)
    await store.put("inputs/abc", PNG, "image/png")

    assert s3_server.objects(bucket) == {f"{PREFIX}/inputs/abc": PNG}
    head = s3_server.client().head_object(Bucket=bucket, Key=f"{PREFIX}/inputs/abc")
    assert head["ContentType"] == "image/png"


async def test_a_presigned_url_is_signed_for_the_ttl_and_refused_after_it(
    s3_server: S3Server,
) -> None:
    store = s3_store(s3_server.url, s3_server.new_bucket(), ttl=1)
    await store.put("outputs/ttl.png", PNG, "image/png")
    url = await store.download_url("outputs/ttl.png")
    assert url is not None
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "X-Amz-Expires=1&" in url

    assert await asyncio.to_thread(fetch, url) == (200, PNG)
    # Bounded poll: the gate refuses the URL once its second is over, never before.
    deadline = asyncio.get_running_loop().time() + 10
    while (status := (await asyncio.to_thread(fetch, url))[0]) == 200:
        assert asyncio.get_running_loop().time() < deadline, "the URL never expired"
        await asyncio.sleep(0.1)
    assert status == 403
    assert s3_server.gate.refused[-1] == "Request has expired"


async def test_a_tampered_presigned_url_is_refused(s3_server: S3Server) -> None:
    store = s3_store(s3_server.url, s3_server.new_bucket())
    await store.put("outputs/mine.png", PNG, "image/png")
    url = await store.download_url("outputs/mine.png")
    assert url is not None

    other = url.replace("outputs/mine.png", "outputs/other.png")

    assert (await asyncio.to_thread(fetch, other))[0] == 403


async def test_an_unreachable_store_is_unavailable_and_says_so_in_its_check() -> None:
    store = s3_store(f"http://127.0.0.1:{free_port()}", "nowhere")

    with pytest.raises(PictureStoreUnavailable):
        await store.put("inputs/a", PNG, "image/png")
    with pytest.raises(PictureStoreUnavailable):
        await store.get("inputs/a")
    with pytest.raises(PictureStoreUnavailable):
        await store.size("inputs/a")
    with pytest.raises(PictureStoreUnavailable):
        await store.delete("inputs/a")
    problem = await store.check()
    assert problem is not None
    assert "does not answer" in problem
    assert SECRET_ACCESS_KEY not in problem
