from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from litestar import Litestar, MediaType, Request, Response
from litestar.testing import TestClient

from tests.support.app import assert_problem, running_app
from tests.support.media import make_image
from videoapi.errors import AppError
from videoapi.settings import Settings
from videoapi.storage.api import download_file
from videoapi.storage.local import LocalStore
from videoapi.storage.signing import sign

MakeFile = Callable[[str, bytes], Path]
KEY = "outputs/task-1/output.mp4"
DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


def app_error_to_json(_: Request, exc: AppError) -> Response:
    return Response({"code": exc.code, "detail": exc.detail}, status_code=exc.status, media_type=MediaType.JSON)


@pytest.fixture
def client(store: LocalStore, make_file: MakeFile) -> Iterator[TestClient[Litestar]]:
    anyio.run(store.put_file, KEY, make_file("out.mp4", DATA), "video/mp4")
    app = Litestar(route_handlers=[download_file], exception_handlers={AppError: app_error_to_json})
    app.state.store = store
    app.state.signing_secret = b"test-secret"
    with TestClient(app) as client:
        yield client


def signed_path(key: str = KEY, *, expires_in_s: int = 600, secret: bytes = b"test-secret") -> str:
    exp = int(time.time()) + expires_in_s
    return f"/v1/video/files/{key}?exp={exp}&sig={sign(key, exp, secret)}"


def test_full_download_sends_the_bytes_and_cache_headers(client: TestClient[Litestar], store: LocalStore) -> None:
    response = client.get(signed_path(expires_in_s=600))

    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"] == f'"{anyio.run(store.stat, KEY).etag}"'
    assert response.headers["cache-control"] in ("private, max-age=600", "private, max-age=599")
    assert "content-range" not in response.headers
    assert "content-disposition" not in response.headers


def test_signed_url_from_the_store_works(client: TestClient[Litestar], store: LocalStore) -> None:
    url = anyio.run(lambda: store.signed_url(KEY, expires_s=60, filename="My clip.mp4"))

    response = client.get(url.removeprefix("http://api.test"))

    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"My clip.mp4\"; filename*=UTF-8''My%20clip.mp4"
    )


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=5000-", 5000, 10239),
        ("bytes=-100", 10140, 10239),
        ("bytes=10000-99999", 10000, 10239),
    ],
)
def test_range_request_gets_206_with_the_requested_bytes(
    client: TestClient[Litestar], range_header: str, first: int, last: int
) -> None:
    response = client.get(signed_path(), headers={"Range": range_header})

    assert response.status_code == 206
    assert response.content == DATA[first : last + 1]
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response.headers["content-length"] == str(last - first + 1)
    assert response.headers["content-type"] == "video/mp4"


def test_range_past_the_end_gets_416(client: TestClient[Litestar]) -> None:
    response = client.get(signed_path(), headers={"Range": "bytes=20000-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


def test_multiple_ranges_get_the_whole_object(client: TestClient[Litestar]) -> None:
    response = client.get(signed_path(), headers={"Range": "bytes=0-1,5-6"})

    assert response.status_code == 200
    assert response.content == DATA


def test_if_range_with_a_stale_etag_gets_the_whole_object(client: TestClient[Litestar]) -> None:
    response = client.get(signed_path(), headers={"Range": "bytes=0-9", "If-Range": '"stale"'})

    assert response.status_code == 200
    assert response.content == DATA


def test_if_none_match_with_the_current_etag_gets_304(client: TestClient[Litestar]) -> None:
    etag = client.get(signed_path()).headers["etag"]

    response = client.get(signed_path(), headers={"If-None-Match": f'"other", W/{etag}'})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert client.get(signed_path(), headers={"If-None-Match": '"other"'}).status_code == 200


def test_head_sends_headers_without_a_body(client: TestClient[Litestar]) -> None:
    response = client.head(signed_path(), headers={"Range": "bytes=0-9"})

    assert response.status_code == 206
    assert response.content == b""
    assert response.headers["content-length"] == "10"
    assert response.headers["content-range"] == f"bytes 0-9/{len(DATA)}"


@pytest.mark.parametrize(
    "path",
    [
        signed_path(secret=b"wrong"),
        signed_path(expires_in_s=-1),
        signed_path().replace("sig=", "sig=x"),
        signed_path("outputs/task-1/output.mp4").replace("task-1", "task-2"),
    ],
    ids=["wrong-secret", "expired", "tampered-sig", "other-key"],
)
def test_bad_or_expired_signature_gets_403(client: TestClient[Litestar], path: str) -> None:
    response = client.get(path)

    assert response.status_code == 403
    assert response.json()["code"] == "signature_invalid"


def test_missing_object_gets_404(client: TestClient[Litestar]) -> None:
    assert client.get(signed_path("outputs/task-9/output.mp4")).status_code == 404


def test_bad_key_with_a_valid_signature_gets_404(client: TestClient[Litestar]) -> None:
    assert client.get(signed_path("outputs/.output.mp4.meta.json")).status_code == 404


def test_missing_query_parameters_are_refused(client: TestClient[Litestar]) -> None:
    assert client.get(f"/v1/video/files/{KEY}").status_code == 400


@pytest.mark.ffmpeg
def test_downloads_are_nosniff_and_their_filename_is_signed(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """A download URL's `dl` (the attachment filename) is part of what it signs: changed, added or
    dropped, the URL is refused; every answer tells the browser not to sniff the content type."""
    with running_app(make_settings()) as api:
        asset = api.upload(make_image(tmp_path / "photo.png"))
        url = asset["url"].removeprefix("http://testserver.local")
        assert "dl=photo.png" in url
        ok = api.client.get(url)
        assert ok.status_code == 200 and ok.headers["x-content-type-options"] == "nosniff"
        assert ok.headers["content-disposition"].startswith('attachment; filename="photo.png"')
        assert api.client.head(url).headers["x-content-type-options"] == "nosniff"
        ranged = api.client.get(url, headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and ranged.headers["x-content-type-options"] == "nosniff"
        cached = api.client.get(url, headers={"If-None-Match": ok.headers["etag"]})
        assert cached.status_code == 304 and cached.headers["x-content-type-options"] == "nosniff"

        renamed = url.replace("dl=photo.png", "dl=photo.html")
        assert_problem(api.client.get(renamed), 403, "signature_invalid")
        dropped = url.replace("&dl=photo.png", "")
        assert_problem(api.client.get(dropped), 403, "signature_invalid")
        # A URL signed without a filename cannot be given one.
        key = url.split("?")[0].removeprefix("/v1/video/files/")
        exp = int(time.time()) + 600
        plain = f"/v1/video/files/{key}?exp={exp}&sig={sign(key, exp, api.client.app.state.signing_secret)}"
        assert api.client.get(plain).status_code == 200
        assert_problem(api.client.get(plain + "&dl=photo.html"), 403, "signature_invalid")
