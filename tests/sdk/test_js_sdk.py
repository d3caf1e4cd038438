"""The TypeScript SDK (sdk/js): its types and build are current, and its node tests pass against the live app.

`node --test sdk/js/test/` runs against the module's server (tests/sdk/conftest.py), told where by
VIDEOAPI_URL and VIDEOAPI_KEY; the tests import the committed `dist/`, which needs no npm install.
The currency checks run openapi-typescript and tsc from sdk/js/node_modules (`make install`: `npm ci`).
"""

from __future__ import annotations

import base64
import filecmp
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from scripts.gen_sdk_js_types import SDK, build, write_types
from videoapi_client import ROUTES, AsyncClient

from tests.sdk.conftest import Server
from tests.support.gateway import make_key
from tests.support.media import make_video, video_info

pytestmark = pytest.mark.node

README = SDK / "README.md"


def consumer(tmp_path: Path) -> Path:
    """A folder whose `import ... from "videoapi-client"` resolves to sdk/js, as after `npm install ./sdk/js`."""
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "videoapi-client").symlink_to(SDK, target_is_directory=True)
    return tmp_path


def node_bin() -> str:
    node = shutil.which("node")
    assert node, "node (20+) is needed for the TypeScript SDK's tests"
    return node


def test_the_committed_types_match_the_served_openapi(tmp_path: Path) -> None:
    write_types(tmp_path / "openapi.ts")
    assert (tmp_path / "openapi.ts").read_text() == (SDK / "src" / "openapi.ts").read_text(), (
        "sdk/js/src/openapi.ts is stale: run `PYTHONPATH=src .venv/bin/python scripts/gen_sdk_js_types.py`"
    )


def test_the_committed_dist_is_the_build_of_src(tmp_path: Path) -> None:
    build(tmp_path / "dist")
    compared = filecmp.dircmp(tmp_path / "dist", SDK / "dist")
    built = sorted(p.name for p in (tmp_path / "dist").iterdir())
    assert built and not compared.left_only and not compared.right_only, compared.report()
    _, mismatch, errors = filecmp.cmpfiles(tmp_path / "dist", SDK / "dist", built, shallow=False)
    assert not mismatch and not errors, (
        f"sdk/js/dist is stale ({mismatch + errors}): run `PYTHONPATH=src .venv/bin/python scripts/gen_sdk_js_types.py`"
    )


def test_the_declarations_type_a_consumers_code_and_the_readme_examples(tmp_path: Path) -> None:
    """tsc --noEmit of test/types.ts and the README's ts blocks, without Node's types and without skipLibCheck."""
    folder = consumer(tmp_path)
    shutil.copy(SDK / "test" / "types.ts", folder / "types.ts")
    blocks = re.findall(r"```ts\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2
    for n, block in enumerate(blocks):
        (folder / f"readme_{n}.ts").write_text(block)
    options = {
        "strict": True, "noEmit": True, "target": "ES2022", "module": "ES2022", "moduleResolution": "Bundler",
        "lib": ["ES2022", "DOM", "DOM.Iterable"], "types": [], "skipLibCheck": False,
    }  # fmt: skip
    (folder / "tsconfig.json").write_text(json.dumps({"compilerOptions": options, "include": ["*.ts"]}))
    run = subprocess.run(
        [str(SDK / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"], cwd=folder, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


# The Python client's resources and what it calls them: each has its camelCase twin in sdk/js.
RESOURCES = ["edit", "analyze", "generate", "batch", "tasks", "pipelines", "assets", "webhooks"]
DUMP = """
import { Client, ROUTES } from "videoapi-client";
const client = new Client({ baseUrl: "http://127.0.0.1:9" });
const methods = (o) => Object.getOwnPropertyNames(Object.getPrototypeOf(o)).filter((m) => m !== "constructor");
const resources = Object.fromEntries(%s.map((r) => [r, methods(client[r])]));
console.log(JSON.stringify({ routes: ROUTES, resources, client: methods(client) }));
"""


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def public_methods(obj: object) -> set[str]:
    return {camel(m) for m in dir(obj) if not m.startswith("_") and callable(getattr(obj, m))}


def test_the_js_client_has_the_python_clients_routes_and_methods(tmp_path: Path) -> None:
    """Same route table (name, method, path, create) and the same methods, in camelCase."""
    folder = consumer(tmp_path)
    (folder / "dump.mjs").write_text(DUMP % json.dumps(RESOURCES))
    run = subprocess.run([node_bin(), "dump.mjs"], cwd=folder, capture_output=True, text=True, check=True)
    js = json.loads(run.stdout)
    python_routes = {name: {"method": r.method, "path": r.path, "create": r.create} for name, r in ROUTES.items()}
    assert js["routes"] == python_routes
    client = AsyncClient("http://127.0.0.1:9")
    for resource in RESOURCES:
        assert set(js["resources"][resource]) == public_methods(getattr(client, resource)), resource
    python_client = public_methods(client) - {"aclose"} | {"call"}
    assert set(js["client"]) == python_client


@pytest.mark.ffmpeg
def test_the_readme_examples_run(server: Server, tmp_path: Path) -> None:
    folder = consumer(tmp_path)
    blocks = re.findall(r"```js\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2
    make_video(folder / "clip.mp4", duration_s=2.0, width=160, height=90)
    env = {**os.environ, "VIDEOAPI_URL": server.url, "VIDEOAPI_KEY": server.key}
    for n, block in enumerate(blocks):
        (folder / f"readme_{n}.mjs").write_text(block)
        run = subprocess.run(
            [node_bin(), f"readme_{n}.mjs"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stdout + run.stderr
    assert video_info(folder / "trimmed.mp4")["frames"] == pytest.approx(25, abs=2)
    assert "404 asset_not_found" in run.stdout


@pytest.mark.ffmpeg
def test_the_node_tests_pass_against_the_live_server(server: Server, tmp_path: Path) -> None:
    node = node_bin()
    clip = make_video(tmp_path / "small.mp4", duration_s=2.0, width=160, height=90)
    env = {
        **os.environ,
        "VIDEOAPI_URL": server.url,
        "VIDEOAPI_KEY": server.key,
        "VIDEOAPI_TEST_CLIP": str(clip),
        # One request per 5 s: the second of two back-to-back calls is refused even on a loaded machine.
        "VIDEOAPI_SLOW_KEY": make_key(server.settings, "js-slow", rate_per_s=0.2, burst=1),
        "VIDEOAPI_IMPATIENT_KEY": make_key(server.settings, "js-impatient", rate_per_s=0.2, burst=1),
    }
    # Every file at once: most of their time is spent waiting on the server's tasks.
    run = subprocess.run(
        [
            node,
            "--test",
            "--test-concurrency=8",
            "--test-timeout=120000",
            *sorted(map(str, SDK.glob("test/*.test.js"))),
        ],
        cwd=SDK,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    print(run.stdout, run.stderr)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout


# Run in Chromium at the API's own origin: `/__sdk/...` (the built SDK and the clip) is answered by
# Playwright from disk, every other request goes to the live server as it would from a web page.
BROWSER_RUN = """
async ({ key, webhook }) => {
  const sdk = await import("/__sdk/dist/index.js");
  const client = new sdk.Client({ baseUrl: location.origin, apiKey: key });
  const clip = await (await fetch("/__sdk/small.mp4")).blob();
  const progress = [];
  const asset = await client.upload(new File([clip], "small.mp4", { type: "video/mp4" }), {
    onProgress: (sent, total) => progress.push([sent, total]),
  });
  const task = await client.edit.trim({ input: { asset_id: asset.id }, start_s: 0.5, end_s: 1.5 });
  const done = await client.wait(task.id, { timeoutS: 60 });
  const output = await (await client.download(done.result.url)).arrayBuffer();
  const error = await client.tasks.get("no-such-task").catch((e) => e);
  const event = await sdk.verifyWebhook(webhook.secret, webhook.headers, webhook.body);
  const tampered = await sdk.verifyWebhook(webhook.secret, webhook.headers, webhook.body + " ").catch((e) => e.name);
  return {
    size: asset.size_bytes, progress, status: done.status, streamed: client.eventsSupported,
    outputBytes: output.byteLength, error: [error.name, error.status, error.code], event: event.data.id, tampered,
  };
}
"""


@pytest.mark.ffmpeg
def test_the_sdk_works_in_a_browser(server: Server, tmp_path: Path) -> None:
    """Chromium (Debian's, driven by Playwright): a Blob upload, a trim waited for over the event
    stream read by fetch, a typed error, and a webhook signed by the server's code verified by Web Crypto."""
    from playwright.sync_api import Route, sync_playwright

    from videoapi.gateway.webhooks import signature_header

    clip = make_video(tmp_path / "small.mp4", duration_s=2.0, width=160, height=90)
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = json.dumps({"type": "task.succeeded", "timestamp": "2026-12-04T01:00:00Z", "data": {"id": "t1"}})
    now = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now)}
    headers["webhook-signature"] = signature_header([secret], "msg_1", now, body.encode())
    files = {"/__sdk/small.mp4": clip, **{f"/__sdk/dist/{p.name}": p for p in (SDK / "dist").glob("*.js")}}

    def local(route: Route) -> None:
        path = urlparse(route.request.url).path
        if path == "/__sdk/":
            route.fulfill(body="<!doctype html><title>sdk</title>", content_type="text/html")
        elif path in files:
            kind = "text/javascript" if path.endswith(".js") else "video/mp4"
            route.fulfill(body=files[path].read_bytes(), content_type=kind)
        else:
            route.fulfill(status=404)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/__sdk/**", local)
            page.goto(server.url + "/__sdk/")
            webhook = {"secret": secret, "headers": headers, "body": body}
            result = page.evaluate(BROWSER_RUN, {"key": server.key, "webhook": webhook})
        finally:
            browser.close()
    size = clip.stat().st_size
    assert result["size"] == size and result["progress"][-1] == [size, size]
    assert result["status"] == "succeeded" and result["streamed"] is True and result["outputBytes"] > 1000
    assert result["error"] == ["NotFoundError", 404, "task_not_found"]
    assert result["event"] == "t1" and result["tampered"] == "WebhookVerificationError"
