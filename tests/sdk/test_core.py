"""The pure parts of the SDK: retry timing, poll backoff, the event-stream parser, the multipart body."""

from __future__ import annotations

import email.policy
import email.utils
import io
import json
import time
from email.parser import BytesParser

import httpx
import pytest
from videoapi_client._core import Backoff, SseParser, Upload, retry_delay_s, task_from_event


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_is_honoured_in_seconds_and_as_a_date_and_capped() -> None:
    assert retry_delay_s(answer(429, **{"Retry-After": "2"}), 0, 60) == 2
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_delay_s(answer(503, **{"Retry-After": later}), 0, 60) <= 30
    assert retry_delay_s(answer(503, **{"Retry-After": "120"}), 0, 60) is None  # longer than we wait
    assert [retry_delay_s(answer(503), n, 60) for n in range(3)] == [0.5, 1.0, 2.0]
    assert (
        retry_delay_s(answer(500), 0, 60) is None and retry_delay_s(answer(409, **{"Retry-After": "1"}), 0, 60) is None
    )


def test_poll_backoff_grows_to_its_cap_and_never_past_the_deadline() -> None:
    backoff = Backoff(start_s=0.25, max_s=1.0)
    assert [backoff.next_s(100) for _ in range(6)] == [0.25, 0.375, 0.5625, 0.84375, 1.0, 1.0]
    assert backoff.next_s(0.1) == 0.1


def test_the_event_stream_parser_finds_the_final_task_and_the_resume_id() -> None:
    task = {"id": "t1", "kind": "edit.trim", "status": "succeeded", "progress": 1.0, "priority": "normal",
            "attempts": 1, "created_at": "2026-12-03T10:00:00Z", "started_at": None, "finished_at": None,
            "params": {}, "result": {"url": "u"}, "error": None, "cost": None, "webhook_url": None,
            "cancel_requested": False}  # fmt: skip
    stream = (
        ': heartbeat\n\nid: 1\nevent: status\ndata: {"status": "running"}\n\n'
        'id: 2\nevent: progress\ndata: {"progress":\ndata: 0.5}\n\n'
        f"id: 3\nevent: task\ndata: {json.dumps(task)}\n\n"
    )
    parser = SseParser()
    events = [e for line in stream.split("\n") if (e := parser.feed(line))]
    assert [e.event for e in events] == ["status", "progress", "task"]
    assert events[1].data == '{"progress":\n0.5}' and events[1].id == "2"
    assert task_from_event(events[0]) is None
    assert task_from_event(events[2]).result == {"url": "u"} and parser.last_id == "3"


@pytest.mark.parametrize("name", ['clip "one".mp4', "line\r\nbreak.mp4"])
def test_the_multipart_body_is_chunked_sized_and_repeatable(name: str) -> None:
    data = b"x" * (2 * 1024 * 1024 + 5)
    seen: list[int] = []
    upload = Upload(io.BytesIO(data), name, "video/mp4", lambda sent, _total: seen.append(sent))
    first, second = list(upload.parts()), list(upload.parts())
    assert first == second and max(len(c) for c in first) == 1024 * 1024
    body = b"".join(first)
    assert seen[-1] == len(data) and data in body
    assert b"\r\n" not in body.split(b"filename=", 1)[1].split(b"\r\n", 1)[0]  # no header injection
    # What a multipart parser reads back.
    headers = upload.headers()
    assert int(headers["content-length"]) == len(body)
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + headers["content-type"].encode() + b"\r\n\r\n" + body
    )
    [part] = msg.iter_parts()
    assert part.get_payload(decode=True) == data and part.get_filename() == name.replace("\r\n", "")


def test_the_sdk_imports_only_httpx_msgspec_and_the_standard_library() -> None:
    """It is installed on its own (`pip install ./sdk/python`): nothing of the server may leak in."""
    import ast
    import sys
    from pathlib import Path

    import videoapi_client

    allowed = {"httpx", "msgspec", "videoapi_client", *sys.stdlib_module_names}
    for path in Path(videoapi_client.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert all(n.split(".")[0] in allowed for n in names), (path.name, names)
