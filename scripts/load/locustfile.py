"""A realistic client mix for Locust: create edits, poll them until they finish, list recent tasks.

    VIDEOAPI_KEY=vk_... .venv/bin/locust -f scripts/load/locustfile.py --host http://127.0.0.1:8000 \
        --headless -u 50 -r 10 -t 1m

Each simulated client creates a trim (with an Idempotency-Key, as a careful client would), polls its
open tasks about once a second, and lists its recent tasks now and then: roughly 1 create : 8 polls :
1 list. `VIDEOAPI_INPUT_URL` names the input (default: a URL, so nothing is probed at submission);
429 answers are counted as such and honoured with their Retry-After.
"""

from __future__ import annotations

import os
import random
import time
import uuid

from locust import HttpUser, between, task

KEY = os.environ.get("VIDEOAPI_KEY", "")
INPUT_URL = os.environ.get("VIDEOAPI_INPUT_URL", "https://media.example.com/clip.mp4")
TERMINAL = {"succeeded", "failed", "canceled"}


class ApiClient(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        if not KEY:
            raise RuntimeError("set VIDEOAPI_KEY to an API key (videoapi keys create --name load --rate 1000)")
        self.client.headers["Authorization"] = f"Bearer {KEY}"
        self.open_tasks: list[str] = []
        self.pause_until = 0.0

    def _paused(self) -> bool:
        return time.monotonic() < self.pause_until

    def _honour(self, response: object) -> None:
        if getattr(response, "status_code", 0) == 429:
            self.pause_until = time.monotonic() + float(response.headers.get("Retry-After", "1"))  # type: ignore[attr-defined]

    @task(1)
    def create(self) -> None:
        if self._paused():
            return
        start = random.uniform(0, 5)
        body = {"input": {"url": INPUT_URL}, "start_s": round(start, 2), "end_s": round(start + 2, 2)}
        with self.client.post(
            "/v1/video/edit/trim",
            json=body,
            headers={"Idempotency-Key": uuid.uuid4().hex},
            name="POST /edit/trim",
            catch_response=True,
        ) as resp:
            self._honour(resp)
            if resp.status_code == 202:
                self.open_tasks.append(resp.json()["id"])
                resp.success()
            elif resp.status_code in (429, 503):
                resp.success()  # refused on purpose, not an error of the API
            else:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")

    @task(8)
    def poll(self) -> None:
        if self._paused() or not self.open_tasks:
            return
        task_id = random.choice(self.open_tasks)
        with self.client.get(f"/v1/video/tasks/{task_id}", name="GET /tasks/{id}", catch_response=True) as resp:
            self._honour(resp)
            if resp.status_code == 200:
                if resp.json()["status"] in TERMINAL:
                    self.open_tasks.remove(task_id)
                resp.success()
            elif resp.status_code == 429:
                resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}")
        # Keep the working set realistic: a client polls a handful of recent tasks, not thousands.
        del self.open_tasks[:-20]

    @task(1)
    def list_recent(self) -> None:
        if self._paused():
            return
        with self.client.get("/v1/video/tasks?limit=20", name="GET /tasks", catch_response=True) as resp:
            self._honour(resp)
            if resp.status_code in (200, 429):
                resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}")
