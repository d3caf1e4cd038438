"""Bad input gets a clear 4xx or a failed task with a stable code; the server keeps serving."""

from __future__ import annotations

import http.server
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.app import Api, assert_problem, free_port, running_app, serve_in_thread
from tests.support.media import make_png_bomb
from videoapi.settings import Settings

pytestmark = pytest.mark.ffmpeg


def upload_bytes(api: Api, name: str, data: bytes):  # type: ignore[no-untyped-def]
    return api.post("/v1/video/assets", files={"file": (name, data, "video/mp4")})


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("random.mp4", os.urandom(64 * 1024), "input_unreadable"),
        ("empty.mp4", b"", "input_unreadable"),
        ("notes.mp4", b"hello, this is not a video\n" * 100, "input_unsupported_format"),
        ("list.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
         "input_unsupported_format"),
        ("list.txt", b"ffconcat version 1.0\nfile '/etc/passwd'\n", "input_unsupported_format"),
    ],
)  # fmt: skip
def test_unusable_uploads_are_refused_with_a_code(api: Api, name: str, data: bytes, code: str) -> None:
    assert_problem(upload_bytes(api, name, data), 422, code)


def test_truncated_file_is_refused(api: Api, clip: Path) -> None:
    data = clip.read_bytes()
    assert_problem(upload_bytes(api, "cut.mp4", data[: len(data) // 2]), 422, "input_unreadable")


def test_decompression_bomb_is_refused_without_decoding(api: Api, tmp_path: Path) -> None:
    bomb = make_png_bomb(tmp_path / "bomb.png")
    assert_problem(upload_bytes(api, "bomb.png", bomb.read_bytes()), 413, "input_too_large")


def test_oversize_upload_is_413(make_settings: Callable[..., Settings], clip: Path) -> None:
    with running_app(make_settings(**{"limits.max_upload_bytes": 10_000})) as api:
        assert_problem(upload_bytes(api, "big.mp4", clip.read_bytes()), 413, "upload_too_large")
        assert api.get("/health").status_code == 200


def test_upload_without_file_part_or_with_wrong_type(api: Api) -> None:
    assert_problem(api.post("/v1/video/assets", data={"other": "x"}), 422)
    assert_problem(api.post("/v1/video/assets", content=b"abc", headers={"content-type": "video/mp4"}), 422)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.mp4",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.mp4",
        "http://10.0.0.1/x.mp4",
        "http://localhost/x.mp4",
    ],
)
def test_url_to_private_addresses_is_refused(api: Api, url: str) -> None:
    assert_problem(api.post("/v1/video/assets", json={"url": url}), 422, "url_forbidden")


class _Redirector(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def redirector() -> Iterator[Callable[[str], str]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Redirector)
    serve_in_thread(server)

    def to(target: str) -> str:
        _Redirector.target = target
        return f"http://127.0.0.1:{server.server_address[1]}/video.mp4"

    yield to
    server.shutdown()


def test_redirect_to_a_forbidden_address_is_refused(
    make_settings: Callable[..., Settings], redirector: Callable[[str], str]
) -> None:
    # The operator allows 127.0.0.1 (say, an internal media server): the hop after it is re-checked.
    settings = make_settings(**{"limits.fetch_allow_cidrs": ["127.0.0.1/32"]})
    with running_app(settings) as api:
        url = redirector("http://169.254.169.254/latest/meta-data/iam")
        assert_problem(api.post("/v1/video/assets", json={"url": url}), 422, "url_forbidden")


def test_trim_of_a_forbidden_url_fails_the_task_with_a_code(api: Api) -> None:
    resp = api.post(
        "/v1/video/edit/trim", json={"input": {"url": "http://127.0.0.1:9/a.mp4"}, "start_s": 0, "end_s": 1}
    )
    task = api.wait(resp.json()["id"])
    assert task["status"] == "failed"
    assert task["error"]["code"] == "url_forbidden"
    assert task["attempts"] == 1  # a user error is not retried


def test_end_past_the_input_is_422_at_submission(api: Api, clip: Path) -> None:
    asset = api.upload(clip)
    resp = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 1, "end_s": 30})
    assert_problem(resp, 422, "input_out_of_range")


def test_the_server_keeps_serving_after_bad_input(api: Api, clip: Path) -> None:
    upload_bytes(api, "random.mp4", os.urandom(4096))
    api.post("/v1/video/edit/trim", json={"input": {"url": "http://127.0.0.1:9/a.mp4"}, "start_s": 0, "end_s": 1})
    asset = api.upload(clip)
    resp = api.post("/v1/video/edit/trim", json={"input": {"asset_id": asset["id"]}, "start_s": 0.5, "end_s": 1.5})
    assert api.wait(resp.json()["id"])["status"] == "succeeded"
