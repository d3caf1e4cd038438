"""Object storage: where assets and outputs live (local directory or S3), and signed download URLs."""

from __future__ import annotations

from videoapi.settings import Settings
from videoapi.storage.base import ObjectInfo, ObjectStore, validate_key
from videoapi.storage.local import LocalStore
from videoapi.storage.s3 import S3Store
from videoapi.storage.signing import load_signing_secret

__all__ = ["LocalStore", "ObjectInfo", "ObjectStore", "S3Store", "load_signing_secret", "make_store", "validate_key"]


def make_store(settings: Settings) -> ObjectStore:
    """The store that `settings.storage.backend` names."""
    cfg = settings.storage
    if cfg.backend == "s3":
        return S3Store(
            endpoint=cfg.s3_endpoint,
            access_key=cfg.s3_access_key,
            secret_key=cfg.s3_secret_key,
            bucket=cfg.s3_bucket,
            secure=cfg.s3_secure,
            region=cfg.s3_region,
            public_endpoint=cfg.s3_public_endpoint,
        )
    return LocalStore(settings.storage_dir, public_url=settings.server.base_url, secret=load_signing_secret(settings))
