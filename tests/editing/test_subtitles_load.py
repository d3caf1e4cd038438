"""A subtitle file of megabytes takes seconds of CPU to parse and screen: it must not stall the other
requests of the API process while it does (a key could otherwise freeze the API for everyone)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.support.app import running_app
from videoapi.settings import Settings


def big_srt(cues: int = 1000, words: int = 60) -> str:
    """About 0.99 MB: just under the 1 MiB limit of a JSON body."""
    line = "an ordinary line of a long film " + "and more words " * words
    blocks = [
        f"{i + 1}\n{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d},000 --> "
        f"{(i + 1) // 3600:02d}:{(i + 1) // 60 % 60:02d}:{(i + 1) % 60:02d},500\n{line}{i}\n"
        for i in range(cues)
    ]
    return "\n".join(blocks)


def test_screening_a_huge_subtitle_file_does_not_stall_other_requests(make_settings: Callable[..., Settings]) -> None:
    body = {"input": {"asset_id": "00000000-0000-0000-0000-000000000000"}, "srt": big_srt()}
    with running_app(make_settings()) as api:
        done: dict[str, float] = {}

        def submit() -> None:
            started = time.monotonic()
            api.post("/v1/video/edit/subtitles", json=body)  # screened, then 404: no such asset
            done["s"] = time.monotonic() - started

        worker = threading.Thread(target=submit)
        worker.start()
        latencies = []
        while worker.is_alive():
            started = time.monotonic()
            assert api.client.get("/health").status_code == 200
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
        worker.join()
    # It was heavy (seconds of CPU under load), and the health checks were answered meanwhile: on the
    # event loop the first of them waited for the whole screening.
    assert done["s"] > 0.3, done
    assert len(latencies) >= 3 and max(latencies) < done["s"] / 2, (max(latencies), done)
