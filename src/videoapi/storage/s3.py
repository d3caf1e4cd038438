"""Object store on MinIO or any S3 endpoint; clients download through presigned URLs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error, ServerError

from videoapi.errors import NotFound, ServiceUnavailable, TransientError
from videoapi.storage.base import ObjectInfo, content_disposition, validate_key

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10.0
"""MinIO's default of 5 minutes would hang the readiness probe on an unreachable host."""
READ_TIMEOUT_S = 300.0


class S3Store:
    """Objects in one bucket, created on first use. The minio client is sync, so calls run in threads."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
        public_endpoint: str = "",
    ) -> None:
        self._endpoint = endpoint
        self._bucket = bucket
        self._bucket_ready = False
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
            maxsize=10,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        # Passing the region spares minio a GetBucketLocation round trip (and presigning needs none).
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=self._http
        )
        self._presigner = self._client
        if public_endpoint:
            # Clients outside the docker network reach the store by another name; the signature covers
            # the host, so the URL must be signed for that name. This client never makes a request.
            public_secure, public_host = _split_endpoint(public_endpoint, secure)
            self._presigner = Minio(
                public_host, access_key=access_key, secret_key=secret_key, secure=public_secure, region=region
            )

    def local_path(self, key: str) -> Path | None:
        return None

    async def put_file(self, key: str, path: Path, content_type: str, *, move: bool = False) -> int:
        validate_key(key)

        def upload() -> int:
            size_bytes = path.stat().st_size
            self._client.fput_object(self._bucket, key, str(path), content_type=content_type)
            if move:
                path.unlink()
            return size_bytes

        return await self._run(key, upload)

    async def fetch_to_file(self, key: str, dest: Path) -> None:
        validate_key(key)
        # fget_object writes a `.part.minio` file next to dest and renames it, so dest is never partial.
        await self._run(key, lambda: self._client.fget_object(self._bucket, key, str(dest)))

    async def stat(self, key: str) -> ObjectInfo:
        validate_key(key)
        obj = await self._run(key, lambda: self._client.stat_object(self._bucket, key))
        return ObjectInfo(
            size_bytes=obj.size or 0,
            content_type=obj.content_type or "application/octet-stream",
            etag=obj.etag or "",
        )

    async def delete(self, key: str) -> None:
        validate_key(key)
        await self._run(key, lambda: self._client.remove_object(self._bucket, key))

    async def signed_url(self, key: str, *, expires_s: int, filename: str | None = None) -> str:
        validate_key(key)
        response_headers = {"response-content-disposition": content_disposition(filename)} if filename else None
        return self._presigner.presigned_get_object(
            self._bucket, key, expires=timedelta(seconds=expires_s), response_headers=response_headers
        )

    async def check(self) -> None:
        try:
            await anyio.to_thread.run_sync(self._ensure_bucket, True)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise ServiceUnavailable(
                f"object storage at {self._endpoint} (bucket {self._bucket}) is unusable: {exc}"
            ) from exc

    async def close(self) -> None:
        self._http.clear()

    async def _run(self, key: str, call: Callable[[], T]) -> T:
        """Run a blocking minio call in a thread, creating the bucket first and mapping its errors."""

        def run() -> T:
            with _mapped_errors(key):
                self._ensure_bucket()
                return call()

        return await anyio.to_thread.run_sync(run)

    def _ensure_bucket(self, recheck: bool = False) -> None:
        if self._bucket_ready and not recheck:
            return
        if not self._client.bucket_exists(self._bucket):
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as exc:
                # Another process may have created it between our two calls.
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        self._bucket_ready = True


@contextmanager
def _mapped_errors(key: str) -> Iterator[None]:
    try:
        yield
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            raise NotFound(f"object {key} does not exist") from exc
        raise
    except (ServerError, urllib3.exceptions.HTTPError) as exc:
        raise TransientError(f"object storage failed on {key}: {exc}") from exc


def _split_endpoint(endpoint: str, default_secure: bool) -> tuple[bool, str]:
    """Accept `host:port` or `http(s)://host:port`; the scheme, when given, decides HTTPS."""
    if "://" not in endpoint:
        return default_secure, endpoint
    parts = urlsplit(endpoint)
    return parts.scheme == "https", parts.netloc
