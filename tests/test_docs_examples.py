"""Every JSON request the API pages show is run against a live app, and each is accepted and its task
succeeds: docs/api/*.md cannot drift from the code.

The examples stay readable: `curl ... -d '{...}' $API/v1/...` commands in sh/bash blocks, and json
blocks marked `<!-- request: POST /v1/... -->` (json blocks that are not requests are marked
`<!-- response -->` or `<!-- fragment -->`; an unmarked one fails this test). Upper-case asset ids are
placeholders (docs/api/overview.md says which names are pictures and sounds): each becomes an upload of
small generated media; `https://example.com/...` URLs are served from this test. An upper-case path
segment names a resource an earlier example of the page created (`TEMPLATE_ID`: the last template
saved by `POST /v1/video/templates`).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Api, create_key, running_app, serve_in_thread
from tests.support.media import ffmpeg, make_audio, make_image, make_video
from videoapi.settings import Settings, load_settings

pytestmark = pytest.mark.ffmpeg

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api"
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")
MARK = re.compile(r"<!--\s*(request:\s*(?P<method>[A-Z]+)\s+(?P<path>/\S+)|response|fragment)\s*-->")
# Generation with diffusion models needs their weights; tests/generation runs these routes with tiny
# pipelines. Everything else must run here.
# Path placeholders, by the create route whose answer's `id` they stand for.
CREATED_BY = {
    "/v1/video/templates": "TEMPLATE_ID",
    "/v1/video/destinations": "DESTINATION_ID",
    "/v1/admin/keys": "KEY_ID",
}
PATH_PLACEHOLDER = re.compile(r"/([A-Z][A-Z0-9_]*)(?=/|$)")
NEEDS_MODEL_WEIGHTS = (
    "/v1/video/generate/text-to-video",
    "/v1/video/generate/image-to-video",
    "/v1/video/edit/lipsync",
)


def needs_model_weights(example: Example) -> bool:
    """Text/image-to-video, style transfer with a diffusion style (it has a prompt), alone or as pipeline
    steps (tests/pipelines/test_pipeline_example.py runs the pipeline with a tiny model), and background
    replacement with a model's matte (tests/editing/test_background_matting.py runs it with tiny models), and
    lip sync (tests/editing/test_lipsync.py runs it with a tiny Wav2Lip)."""
    if example.path == "/v1/video/pipelines":
        steps = example.body.get("steps", [])
        kinds = {s["kind"] for s in steps}
        styled = any(s["kind"] == "generate.style_transfer" and "prompt" in s.get("params", {}) for s in steps)
        return bool(kinds & {"generate.text_to_video", "generate.image_to_video"}) or styled
    diffusion_style = example.path == "/v1/video/generate/style-transfer" and "prompt" in example.body
    matting = example.path.startswith("/v1/video/edit/background") and isinstance(example.body, dict)
    model_matte = matting and (example.body.get("matte") or {}).get("mode") in ("person", "object")
    return example.path in NEEDS_MODEL_WEIGHTS or diffusion_style or model_matte


@dataclass(frozen=True)
class Example:
    where: str
    method: str
    path: str
    body: Any
    headers: dict[str, str]

    def __str__(self) -> str:
        return f"{self.where} {self.method} {self.path}"


def _curl_examples(page: Path, line: int, block: str) -> Iterator[Example]:
    tokens = shlex.split(block.replace("\\\n", " "), comments=True)
    starts = [i for i, token in enumerate(tokens) if token == "curl"]
    for n, start in enumerate(starts):
        args = tokens[start + 1 : starts[n + 1] if n + 1 < len(starts) else len(tokens)]
        body, headers, method, path = None, {}, None, None
        for i, arg in enumerate(args):
            value = args[i + 1] if i + 1 < len(args) else ""
            if arg in ("-d", "--data"):
                body = json.loads(value)
            elif arg == "-H" and ":" in value:
                name, _, text = value.partition(":")
                if name.lower() not in ("authorization", "content-type"):
                    headers[name] = text.strip()
            elif arg == "-X":
                method = value
            elif "/v1/" in arg and path is None:
                path = arg[arg.index("/v1/") :]
        if body is not None and path is not None:
            yield Example(f"{page.name}:{line}", method or "POST", path, body, headers)


def documented_examples() -> list[Example]:
    examples = []
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text().splitlines()
        i = 0
        while i < len(lines):
            fence = re.match(r"^```(\w*)\s*$", lines[i])
            if not fence:
                i += 1
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            block = "\n".join(lines[i + 1 : end])
            if fence.group(1) in ("sh", "bash"):
                examples += _curl_examples(page, i + 1, block)
            elif fence.group(1) == "json":
                mark = MARK.search(lines[i - 1]) if i else None
                assert mark, (
                    f"{page.name}:{i + 1}: mark the json block <!-- request: POST /path --> or <!-- response -->"
                )
                if mark.group("method"):
                    examples.append(
                        Example(f"{page.name}:{i + 1}", mark["method"], mark["path"], json.loads(block), {})
                    )
            i = end + 1
    return examples


EXAMPLES = documented_examples()


def test_the_api_pages_have_examples_to_run() -> None:
    paths = {e.path for e in EXAMPLES}
    assert {"/v1/video/edit/composite", "/v1/video/edit/background", "/v1/video/edit/audio"} <= paths
    assert len(EXAMPLES) >= 20


def media_kind(name: str) -> str:
    if name in ("LOGO", "IMG", "IMAGE") or name.endswith(("_JPG", "_PNG")):
        return "image"
    if name in ("MUSIC", "SONG") or name.endswith(("_WAV", "_MP3")):
        return "audio"
    if name.endswith("_SCREEN"):
        return name.removesuffix("_SCREEN").lower() + "_screen"
    return "video"


def make_media(kind: str, d: Path) -> Path:
    """Small media long enough for every documented time (trims to 9 s, music cut at 45 s)."""
    if kind == "image":
        return make_image(d / "picture.jpg", 96, 64)
    if kind == "audio":
        return make_audio(d / "sound.m4a", duration_s=46)
    if kind in ("green_screen", "blue_screen"):
        path = d / f"{kind}.mp4"
        backdrop = "0x00b140" if kind == "green_screen" else "0x0047bb"
        ffmpeg(
            "-f", "lavfi", "-i", f"color=c={backdrop}:s=160x120:r=10:d=2[g];color=c=red:s=40x60:r=10:d=2[p];"
            "[g][p]overlay=x=60:y=60", "-f", "lavfi", "-i", "sine=duration=2",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
        )  # fmt: skip
        return path
    return make_video(d / "clip.mp4", duration_s=10, width=160, height=120, fps=10)


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """http://127.0.0.1:PORT serving a generated video under any name (what example.com stands for)."""
    root = tmp_path_factory.mktemp("served")
    video = make_video(root / "clip.mp4", duration_s=2, width=160, height=120, fps=10)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = video.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve_in_thread(server)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def docs_api(tmp_path_factory: pytest.TempPathFactory, media_server: str) -> Iterator[Api]:
    settings: Settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path_factory.mktemp("docs-var")),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
            "VIDEOAPI_GATEWAY__DEFAULT_RATE_PER_S": "1000",
            "VIDEOAPI_GATEWAY__DEFAULT_BURST": "1000",
            "VIDEOAPI_LIMITS__FETCH_ALLOW_CIDRS": '["127.0.0.0/8"]',
        }
    )
    with running_app(settings) as api:
        yield api


@functools.cache
def admin_auth(api: Api) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(api.settings, 'docs-admin', scopes=['admin'])}"}


@pytest.fixture(scope="module")
def uploads() -> dict[str, str]:
    """Placeholder name -> asset id, shared by the examples (one upload per name)."""
    return {}


def substitute(value: Any, api: Api, uploads: dict[str, str], media_dir: Path, served: str) -> Any:
    """The example with placeholder asset ids replaced by uploads and example.com URLs by the test server."""
    if isinstance(value, dict):
        out = {k: substitute(v, api, uploads, media_dir, served) for k, v in value.items()}
        name = value.get("asset_id")
        if isinstance(name, str) and PLACEHOLDER.match(name):
            if name not in uploads:
                folder = media_dir / name
                folder.mkdir()
                uploads[name] = api.upload(make_media(media_kind(name), folder))["id"]
            out["asset_id"] = uploads[name]
        url = value.get("url")
        if isinstance(url, str) and re.match(r"https://(\w+\.)?example\.com/", url):
            out["url"] = served + "/" + url.rsplit("/", 1)[-1]
        return out
    if isinstance(value, list):
        return [substitute(v, api, uploads, media_dir, served) for v in value]
    return value


@pytest.fixture(scope="module")
def created() -> dict[str, str]:
    """Path placeholder -> the id an earlier example created (`CREATED_BY`)."""
    return {}


def with_created(value: Any, created: dict[str, str]) -> Any:
    """`{"id": "DESTINATION_ID"}` in a body: the id an earlier example created."""
    if isinstance(value, dict):
        return {
            k: created.get(v, v) if k == "id" and isinstance(v, str) else with_created(v, created)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [with_created(v, created) for v in value]
    return value


def resolve_path(example: Example, created: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in created, f"{example}: no earlier example of the page created {name}"
        return "/" + created[name]

    return PATH_PLACEHOLDER.sub(replace, example.path)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not needs_model_weights(e)], ids=str)
def test_documented_request_is_accepted_and_its_task_succeeds(
    example: Example,
    docs_api: Api,
    uploads: dict[str, str],
    media_server: str,
    created: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    body = with_created(
        substitute(example.body, docs_api, uploads, tmp_path_factory.mktemp("media"), media_server), created
    )
    # The admin routes (docs/api/admin.md) need a key with the admin scope.
    auth = admin_auth(docs_api) if example.path.startswith("/v1/admin/") else docs_api.auth
    resp = docs_api.client.request(
        example.method, resolve_path(example, created), json=body, headers={**auth, **example.headers}
    )
    assert 200 <= resp.status_code < 300, f"{example}: {resp.status_code} {resp.text}"
    answer = resp.json()
    if example.method == "POST" and example.path in CREATED_BY:
        created[CREATED_BY[example.path]] = answer["id"]
    if "steps" in answer and "status" in answer:  # a pipeline: its steps' tasks
        ids = [step["task_id"] for step in answer["steps"]]
    else:
        ids = answer.get("task_ids") or ([answer["id"]] if "status" in answer and "kind" in answer else [])
    for task_id in ids:
        task = docs_api.wait(task_id, timeout_s=120)
        assert task["status"] == "succeeded", f"{example}: {task}"
