"""An S3-compatible object store as picture store (AWS S3, Cloudflare R2, MinIO, Ceph)."""

from adapters.s3.store import S3Location, S3PictureStore

__all__ = ["S3Location", "S3PictureStore"]
