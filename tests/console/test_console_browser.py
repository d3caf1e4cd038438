"""The web console in a real browser: Debian's chromium driven by Playwright against the app on a socket.

Signs in, uploads a clip with the progress bar, submits a trim (estimate first), watches it finish in
the list, opens it and plays the output; checks the timeline editor's live validation, the admin
page, a webhook redelivery and the 375 px layout. Screenshots go to test-artifacts/console/ (gitignored).
Playwright never downloads a browser here: it launches /usr/bin/chromium
(scripts/install-system-deps.sh installs it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.app import create_key, free_port, settings_in
from tests.support.gateway import Receiver, serve
from tests.support.media import make_video

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--mute-audio",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The embedded app on 127.0.0.1 with an admin key and a local webhook receiver."""
    port = free_port()
    settings = settings_in(
        tmp_path_factory.mktemp("console"),
        **{
            "server.public_url": f"http://127.0.0.1:{port}",
            "gateway.webhook_allow_cidrs": ["127.0.0.0/8"],
            "gateway.webhook_allow_ports": [],
            "gateway.webhook_poll_interval_s": 0.2,
            "events.poll_interval_s": 0.2,
        },
    )
    receiver = Receiver()
    try:
        with serve(settings, port) as url:
            yield {"url": url, "key": create_key(settings, "console-admin", scopes=["admin"]), "receiver": receiver}
    finally:
        receiver.close()


@pytest.fixture
def page(site: dict[str, Any]) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system-deps.sh (apt-get install chromium)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.problems = problems  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            page.screenshot(path=str(ARTIFACTS / "last.png"), full_page=True)
            browser.close()
    print(f"console screenshots: {ARTIFACTS}")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def params_of_upload(page: Any) -> str:
    """The id of the asset this tab uploaded (the console remembers its uploads for the forms)."""
    return page.evaluate("() => JSON.parse(sessionStorage.getItem('videoapi.console.assets'))[0].id")


def unlabelled_controls(page: Any) -> list[str]:
    """Form controls a screen reader cannot name: no <label>, no aria-label(ledby)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((c) => c.type !== 'hidden' && !c.labels?.length && !c.getAttribute('aria-label')
                           && !c.getAttribute('aria-labelledby'))
            .map((c) => c.outerHTML.slice(0, 80))"""
    )


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"{page.url}: the page is {width[0]} px wide in a {width[1]} px viewport"


def test_sign_in_upload_trim_watch_and_play_the_output(page: Any, site: dict[str, Any], tmp_path: Path) -> None:
    clip = make_video(tmp_path / "tiny.mp4", duration_s=2.0, width=160, height=120)

    # Given the console, when the user signs in with a key,
    page.goto(site["url"] + "/console")
    page.get_by_label("API key").wait_for()
    # by keyboard alone (the key field has the focus; Enter submits),
    page.keyboard.type(site["key"])
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Tasks").wait_for()
    # then the key is in this tab's sessionStorage only, never in the URL.
    assert page.evaluate("() => sessionStorage.getItem('videoapi.console.key')") == site["key"]
    assert site["key"] not in page.url
    shot(page, "01-tasks-empty")

    # Upload with the progress bar: it is filled by the upload's own progress events.
    page.get_by_role("link", name="Upload", exact=True).click()
    page.get_by_label("Video, audio or image file").set_input_files(str(clip))
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_text("Uploaded: asset").wait_for()
    assert page.evaluate("() => document.getElementById('upload-progress').value") == 1
    shot(page, "02-uploaded")

    # Trim: the estimate shows before submitting; the webhook goes to the local receiver.
    page.get_by_role("link", name="trim", exact=True).click()
    page.get_by_label("End (seconds)").fill("1")
    page.get_by_label("Webhook URL (optional)").fill(site["receiver"].url())
    page.get_by_text("Estimate:").wait_for()
    assert "credits" in page.locator(".estimate").inner_text()
    shot(page, "03-trim-form")
    page.get_by_role("button", name="Submit trim").click()
    page.wait_for_url("**/console#/tasks/*")
    task_id = page.url.rsplit("/", 1)[-1]

    # The list follows it live to the end.
    page.get_by_role("link", name="Tasks", exact=True).click()
    row = page.locator(f"tr[data-task-id='{task_id}']")
    row.locator(".status-succeeded").wait_for()
    assert row.locator("progress").evaluate("p => p.value") == 1
    shot(page, "04-tasks-succeeded")

    # A task created elsewhere (here by the API directly) appears in the open list and finishes there,
    # pushed by the event stream: the page does not poll.
    created = httpx.post(
        site["url"] + "/v1/video/edit/transcode",
        headers={"Authorization": f"Bearer {site['key']}"},
        json={"input": {"asset_id": params_of_upload(page)}, "width": 96, "height": 72},
    )
    assert created.status_code == 202, created.text
    other = page.locator(f"tr[data-task-id='{created.json()['id']}']")
    other.locator(".status-succeeded").wait_for()

    # The filters: by status, then by kind.
    page.get_by_label("Status").select_option("failed")
    page.get_by_text("No tasks match these filters.").wait_for()
    page.get_by_label("Status").select_option("succeeded")
    page.get_by_label("Kind").select_option("edit.trim")
    row.wait_for()
    assert other.count() == 0 and "kind=edit.trim" in page.url

    # The task page plays the output.
    row.get_by_role("link").click()
    video = page.locator("video#output")
    video.wait_for()
    page.wait_for_function("() => document.getElementById('output').readyState >= 2", timeout=TIMEOUT_MS)
    page.evaluate("() => document.getElementById('output').play()")
    page.wait_for_function("() => document.getElementById('output').currentTime > 0", timeout=TIMEOUT_MS)
    assert video.evaluate("v => v.error") is None
    params = json.loads(page.locator("pre").first.inner_text())
    assert params["end_s"] == 1
    shot(page, "05-task-playing")

    # Its webhook delivery is listed, and redelivered on request.
    site["receiver"].wait_for(1)
    page.reload()
    page.get_by_text("task.succeeded to").wait_for()
    page.get_by_role("button", name="Redeliver webhook").click()
    page.get_by_text("Redelivery queued").wait_for()
    site["receiver"].wait_for(2)
    ids = {r["headers"]["webhook-id"] for r in site["receiver"].requests}
    assert len(ids) == 1  # a redelivery keeps the webhook-id

    # The timeline editor checks the JSON against the served schema as one types.
    page.get_by_role("link", name="Timeline", exact=True).click()
    page.get_by_text("Estimate:").wait_for()
    editor = page.get_by_label("Composite request (JSON)")
    editor.fill('{"timeline": {"tracks": [{"clips": [{"type": "color", "color": "#000000", "duration_s": -1}]}]}}')
    page.locator("#timeline-errors").get_by_text("duration_s").wait_for()
    assert page.get_by_role("button", name="Submit composite").is_disabled()
    editor.fill('{"timeline": {}}')
    page.get_by_text("$.timeline.tracks: is required").wait_for()
    shot(page, "06-timeline-invalid")

    # Admin: keys and the usage chart (the trim was charged today).
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("cell", name="console-admin").wait_for()
    page.locator("svg.chart").wait_for()
    bars = page.locator("svg.chart rect.bar-rect")
    assert bars.count() == 30
    assert float(bars.last.get_attribute("height")) > 0  # today's bar
    # Create a key (shown once), give it a quota, a new webhook secret, then revoke it.
    page.get_by_label("Name").fill("ci-bot")
    page.get_by_label("Monthly credits (optional)").fill("40")
    page.get_by_role("button", name="Create key").click()
    page.get_by_text("Key ci-bot created").wait_for()
    new_key = page.locator("p.secret").inner_text()
    assert new_key.startswith("vk_")
    headers = {"Authorization": f"Bearer {new_key}"}
    assert httpx.get(site["url"] + "/v1/video/usage", headers=headers).json()["quota"]["monthly_credits"] == 40
    page.get_by_label("Monthly credits of ci-bot").fill("7")
    page.get_by_role("row", name="ci-bot").get_by_role("button", name="Set quota").click()
    page.get_by_text("ci-bot: quota set to 7").wait_for()
    assert httpx.get(site["url"] + "/v1/video/usage", headers=headers).json()["quota"]["monthly_credits"] == 7
    page.get_by_role("row", name="ci-bot").get_by_role("button", name="Rotate webhook secret").click()
    page.get_by_text("ci-bot: new webhook secret").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("row", name="ci-bot").get_by_role("button", name="Revoke").click()
    page.get_by_text("ci-bot revoked").wait_for()
    assert httpx.get(site["url"] + "/v1/video/usage", headers=headers).status_code == 401
    shot(page, "07-admin")

    # At 375 px wide nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    for route, ready in [
        ("#/tasks", "tr[data-task-id] .status-succeeded"),
        (f"#/tasks/{task_id}", "video#output"),
        # Each form gets its estimate from the server for the uploaded clip, before anything is submitted.
        ("#/edit/trim", ".estimate:has-text('Estimate:')"),
        ("#/edit/transcode", ".estimate:has-text('Estimate:')"),
        ("#/edit/captions", ".estimate:has-text('Estimate:')"),
        ("#/edit/subtitles", ".estimate:has-text('Estimate:')"),
        ("#/edit/thumbnails", ".estimate:has-text('Estimate:')"),
        ("#/timeline", ".estimate:has-text('Estimate:')"),
        ("#/admin", "svg.chart"),
    ]:
        page.goto(f"{site['url']}/console{route}")
        page.locator(ready).first.wait_for()
        no_horizontal_scroll(page)
        assert not unlabelled_controls(page), (route, unlabelled_controls(page))
        shot(page, "375-" + route.strip("#/").replace("/", "-").replace(task_id, "task"))
    assert not page.problems, page.problems  # type: ignore[attr-defined]
