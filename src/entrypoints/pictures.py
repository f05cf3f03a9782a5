"""Which picture store the settings ask for, and how to build it."""

from __future__ import annotations

from urllib.parse import urlsplit

from adapters.s3 import S3Location, S3PictureStore
from entrypoints.settings import Settings
from picpaygo_core.ports import HealthProbe, PictureStore


def picture_store_kind(settings: Settings) -> str:
    """``s3`` when ``PICTURE_STORE`` names a bucket, else ``database`` (the storage's own)."""
    return "s3" if settings.pictures.store else "database"


def build_s3_store(settings: Settings) -> S3PictureStore:
    """The S3-compatible store ``PICTURE_STORE`` and the ``S3_*``/``AWS_*`` settings name."""
    pictures = settings.pictures
    assert pictures.bucket is not None
    location = S3Location(
        bucket=pictures.bucket,
        prefix=pictures.prefix,
        endpoint_url=pictures.endpoint_url,
        region=pictures.region,
        access_key_id=pictures.access_key_id,
        secret_access_key=pictures.secret_access_key,
        session_token=pictures.session_token,
    )
    return S3PictureStore(location, url_ttl_seconds=pictures.url_ttl_seconds)


def degrading_probes(settings: Settings, pictures: PictureStore) -> list[HealthProbe]:
    """The picture store's probe when it is a store of its own (the database's is the
    database's probe): its outage degrades the service (uploads and downloads fail), but
    every process is as affected as the next, so none is taken out of rotation for it."""
    return [pictures] if picture_store_kind(settings) == "s3" else []


def download_origin(settings: Settings) -> str | None:
    """The origin presigned download URLs point to (for the web client's policy), or
    None when pictures are served by the API itself."""
    pictures = settings.pictures
    if not pictures.store:
        return None
    if pictures.endpoint_url:
        parts = urlsplit(pictures.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"https://s3.{pictures.region}.amazonaws.com"  # AWS S3, addressed by path
