from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from videoapi.errors import NotFound, ServiceUnavailable
from videoapi.storage.s3 import S3Store

pytestmark = pytest.mark.anyio

MakeFile = Callable[[str, bytes], Path]
KEY = "outputs/task-1/output.mp4"


def make_s3_store(endpoint: str, **kwargs: str) -> S3Store:
    # A fresh bucket per store, so each test starts empty and bucket creation is exercised.
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    return S3Store(endpoint=endpoint, access_key="testing", secret_key="testing", bucket=bucket, **kwargs)


@pytest.fixture
async def s3_store(s3_endpoint: str) -> AsyncIterator[S3Store]:
    store = make_s3_store(s3_endpoint)
    yield store
    await store.close()


async def test_put_stat_fetch_delete_round_trip(s3_store: S3Store, make_file: MakeFile, tmp_path: Path) -> None:
    src = make_file("out.mp4", b"rendered video")

    assert await s3_store.put_file(KEY, src, "video/mp4") == 14
    info = await s3_store.stat(KEY)
    await s3_store.fetch_to_file(KEY, tmp_path / "back" / "out.mp4")
    await s3_store.delete(KEY)
    await s3_store.delete(KEY)  # idempotent

    assert src.exists()
    assert (info.size_bytes, info.content_type) == (14, "video/mp4")
    assert info.etag
    assert (tmp_path / "back" / "out.mp4").read_bytes() == b"rendered video"
    with pytest.raises(NotFound):
        await s3_store.stat(KEY)


async def test_put_file_move_removes_the_local_file(s3_store: S3Store, make_file: MakeFile) -> None:
    src = make_file("out.mp4", b"x" * 10)

    await s3_store.put_file(KEY, src, "video/mp4", move=True)

    assert not src.exists()
    assert (await s3_store.stat(KEY)).size_bytes == 10


async def test_missing_object_raises_not_found(s3_store: S3Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        await s3_store.stat(KEY)
    with pytest.raises(NotFound):
        await s3_store.fetch_to_file(KEY, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


async def test_bad_key_is_rejected(s3_store: S3Store, make_file: MakeFile) -> None:
    with pytest.raises(ValueError):
        await s3_store.put_file("../escape", make_file("x", b"x"), "video/mp4")


async def test_presigned_url_downloads_the_object(s3_store: S3Store, make_file: MakeFile) -> None:
    await s3_store.put_file(KEY, make_file("out.mp4", b"presigned bytes"), "video/mp4")

    url = await s3_store.signed_url(KEY, expires_s=60)
    attachment_url = await s3_store.signed_url(KEY, expires_s=60, filename="clip.mp4")

    async with httpx.AsyncClient() as client:
        plain = await client.get(url)
        attachment = await client.get(attachment_url)
        tampered = await client.get(url.replace("output.mp4", "other.mp4"))
    assert plain.status_code == 200
    assert plain.content == b"presigned bytes"
    assert attachment.content == b"presigned bytes"
    assert attachment.headers["content-disposition"].startswith('attachment; filename="clip.mp4"')
    assert tampered.status_code in (403, 404)


async def test_presigned_url_uses_the_public_endpoint(s3_endpoint: str, make_file: MakeFile) -> None:
    port = s3_endpoint.rsplit(":", 1)[1]
    store = make_s3_store(s3_endpoint, public_endpoint=f"localhost:{port}")
    try:
        await store.put_file(KEY, make_file("out.mp4", b"public bytes"), "video/mp4")
        url = await store.signed_url(KEY, expires_s=60)
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
    finally:
        await store.close()

    assert url.startswith(f"http://localhost:{port}/")
    assert response.content == b"public bytes"


async def test_public_endpoint_with_https_scheme_signs_https_urls(s3_endpoint: str) -> None:
    store = make_s3_store(s3_endpoint, public_endpoint="https://media.example.com")

    url = await store.signed_url(KEY, expires_s=60)

    assert url.startswith("https://media.example.com/")


async def test_check_creates_the_bucket_and_passes(s3_store: S3Store) -> None:
    await s3_store.check()
    await s3_store.check()


async def test_check_raises_service_unavailable_when_the_endpoint_is_closed(closed_port: int) -> None:
    store = make_s3_store(f"127.0.0.1:{closed_port}")
    with pytest.raises(ServiceUnavailable, match=f"object storage at 127.0.0.1:{closed_port}"):
        await store.check()
    await store.close()
