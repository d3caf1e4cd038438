from __future__ import annotations

import hashlib
import os
import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from videoapi.errors import NotFound, ServiceUnavailable
from videoapi.settings import Settings, StorageSettings
from videoapi.storage import LocalStore, S3Store, make_store
from videoapi.storage.base import CHUNK_BYTES
from videoapi.storage.signing import verify

pytestmark = pytest.mark.anyio

MakeFile = Callable[[str, bytes], Path]
SECRET = b"test-secret"  # the `store` fixture's
KEY = "assets/0b7e1c2a-0000-4000-8000-000000000001/source.mp4"


async def test_put_file_copies_and_keeps_the_source(store: LocalStore, make_file: MakeFile) -> None:
    src = make_file("in.mp4", b"video bytes")

    size_bytes = await store.put_file(KEY, src, "video/mp4")

    assert size_bytes == 11
    assert src.read_bytes() == b"video bytes"
    assert (store.root / KEY).read_bytes() == b"video bytes"
    assert store.local_path(KEY) == store.root / KEY


async def test_put_file_move_renames_the_source_into_place(store: LocalStore, make_file: MakeFile) -> None:
    src = make_file("out.mp4", b"rendered")
    inode = src.stat().st_ino

    assert await store.put_file(KEY, src, "video/mp4", move=True) == 8

    assert not src.exists()
    assert (store.root / KEY).stat().st_ino == inode  # renamed, not copied


async def test_put_file_leaves_no_temp_files(store: LocalStore, make_file: MakeFile) -> None:
    await store.put_file(KEY, make_file("a", b"1"), "video/mp4")
    await store.put_file(KEY, make_file("b", b"22"), "video/webm")

    names = sorted(p.name for p in (store.root / KEY).parent.iterdir())
    assert names == [".source.mp4.meta.json", "source.mp4"]


async def test_stat_reports_size_content_type_and_an_etag_that_changes_on_overwrite(
    store: LocalStore, make_file: MakeFile
) -> None:
    await store.put_file(KEY, make_file("a", b"first"), "video/mp4")
    first = await store.stat(KEY)
    await store.put_file(KEY, make_file("b", b"second!"), "video/webm")
    second = await store.stat(KEY)

    assert (first.size_bytes, first.content_type) == (5, "video/mp4")
    assert (second.size_bytes, second.content_type) == (7, "video/webm")
    assert first.etag != second.etag
    assert await store.stat(KEY) == second


async def test_fetch_to_file_copies_the_object(store: LocalStore, make_file: MakeFile, tmp_path: Path) -> None:
    await store.put_file(KEY, make_file("a", b"payload"), "video/mp4")
    dest = tmp_path / "work" / "nested" / "copy.mp4"

    await store.fetch_to_file(KEY, dest)

    assert dest.read_bytes() == b"payload"


async def test_missing_object_raises_not_found(store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        await store.stat(KEY)
    with pytest.raises(NotFound):
        await store.fetch_to_file(KEY, tmp_path / "dest")
    with pytest.raises(NotFound):
        await store.stat("assets")  # a directory is not an object
    assert not (tmp_path / "dest").exists()


async def test_delete_is_idempotent_and_prunes_empty_directories(store: LocalStore, make_file: MakeFile) -> None:
    await store.put_file(KEY, make_file("a", b"x"), "video/mp4")

    await store.delete(KEY)
    await store.delete(KEY)

    with pytest.raises(NotFound):
        await store.stat(KEY)
    assert list(store.root.iterdir()) == []
    assert store.root.is_dir()


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside",
        "assets/../../outside",
        "assets/./x",
        "assets\\x",
        "assets/x\x00",
        "assets//x",
        "assets/",
        ".hidden",
        "assets/.source.mp4.meta.json",
        "assets/with space",
        "assets/caf\u00e9",
        "a" * 600,
    ],
)
async def test_bad_keys_are_rejected(store: LocalStore, make_file: MakeFile, key: str) -> None:
    src = make_file("in", b"x")
    with pytest.raises(ValueError):
        await store.put_file(key, src, "video/mp4")
    with pytest.raises(ValueError):
        await store.stat(key)
    with pytest.raises(ValueError):
        await store.delete(key)
    with pytest.raises(ValueError):
        await store.signed_url(key, expires_s=60)
    with pytest.raises(ValueError):
        store.local_path(key)


async def test_symlink_out_of_the_root_is_refused(store: LocalStore, make_file: MakeFile, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "assets").symlink_to(outside)

    with pytest.raises(ValueError):
        await store.put_file("assets/x.mp4", make_file("in", b"x"), "video/mp4")
    assert list(outside.iterdir()) == []


async def test_large_file_round_trip_streams_in_chunks(store: LocalStore, tmp_path: Path) -> None:
    size_bytes = 50 * 1024 * 1024
    src = tmp_path / "big.mp4"
    digest = hashlib.sha256()
    with src.open("wb") as fh:
        for _ in range(size_bytes // CHUNK_BYTES):
            block = os.urandom(CHUNK_BYTES)
            digest.update(block)
            fh.write(block)
    dest = tmp_path / "back.mp4"

    tracemalloc.start()
    try:
        assert await store.put_file(KEY, src, "video/mp4") == size_bytes
        await store.fetch_to_file(KEY, dest)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak_bytes < 8 * CHUNK_BYTES  # never the whole 50 MB at once
    with dest.open("rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == digest.hexdigest()


async def test_signed_url_points_at_the_download_route_and_verifies(store: LocalStore) -> None:
    url = await store.signed_url(KEY, expires_s=300, filename="my video.mp4")

    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"http://api.test/v1/video/files/{KEY}"
    assert query["dl"] == "my video.mp4"
    exp = int(query["exp"])
    assert verify(KEY, exp, query["sig"], SECRET, exp - 300, "my video.mp4")
    assert not verify(KEY, exp, query["sig"], SECRET, exp - 300)  # the filename is signed too
    assert "dl=" not in await store.signed_url(KEY, expires_s=300)


async def test_check_passes_on_a_writable_root_and_fails_when_it_is_gone(store: LocalStore) -> None:
    await store.check()
    shutil.rmtree(store.root)
    store.root.write_text("not a directory")

    with pytest.raises(ServiceUnavailable, match="not writable"):
        await store.check()


async def test_make_store_picks_the_configured_backend(settings: Settings) -> None:
    local = make_store(settings)
    assert isinstance(local, LocalStore)
    assert local.root == settings.var_path / "storage"
    assert (settings.var_path / "signing.key").exists()

    s3_settings = msgspec.structs.replace(
        settings, storage=StorageSettings(backend="s3", s3_access_key="a", s3_secret_key="b")
    )
    s3 = make_store(s3_settings)
    assert isinstance(s3, S3Store)
    assert s3.local_path(KEY) is None
    await s3.close()
