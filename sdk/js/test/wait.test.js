import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { Client, ConflictError, SseParser, WaitTimeoutError } from "../dist/index.js";
import { localServer, need, recordingClient } from "./helpers.js";

test("a trim end to end: wait follows the event stream to the finished task, then its output downloads", async () => {
  const { client, log } = recordingClient();
  const asset = await client.upload(need("VIDEOAPI_TEST_CLIP"));
  const request = { input: { asset_id: asset.id }, start_s: 0.5, end_s: 1.5 };
  const estimate = await client.edit.estimate("trim", request);
  assert.ok(estimate.valid);
  assert.equal(estimate.kind, "edit.trim");
  const task = await client.edit.trim(request);
  assert.ok(["queued", "running"].includes(task.status));

  const done = await client.wait(task.id, { timeoutS: 60 });

  assert.equal(done.status, "succeeded", JSON.stringify(done.error));
  assert.equal(client.eventsSupported, true);
  const stream = log.find((r) => r.url.endsWith(`/v1/video/tasks/${task.id}/events`));
  assert.equal(stream.headers.get("accept"), "text/event-stream");
  assert.equal(stream.status, 200);
  assert.ok(!log.some((r) => r.url.endsWith(`/v1/video/tasks/${task.id}`)), "no polling while the stream works");
  assert.ok(Math.abs(done.result.duration - 1.0) < 0.1, `duration ${done.result.duration}`);

  const out = await client.download(done.result.url, join(mkdtempSync(join(tmpdir(), "sdk-js-")), "out.mp4"));
  assert.ok(statSync(out).size > 1000);
  // another origin (the same server under another name) gets the signed URL but not the key
  const elsewhere = await client.download(done.result.url.replace("127.0.0.1", "localhost"));
  assert.ok((await elsewhere.arrayBuffer()).byteLength === statSync(out).size);
  const downloads = log.filter((r) => r.url.includes(done.result.url.split("?")[0].split("/").pop()));
  assert.ok(downloads.at(-2).headers.get("authorization"));
  assert.equal(downloads.at(-1).headers.get("authorization"), null);

  const error = await client.tasks.cancel(task.id).catch((e) => e);
  assert.ok(error instanceof ConflictError);
  assert.equal(error.code, "task_not_cancelable");
});

test("wait polls when the server has no event stream", async () => {
  const { client, log } = recordingClient();
  const asset = await client.upload(need("VIDEOAPI_TEST_CLIP"));
  const task = await client.edit.trim({ input: { asset_id: asset.id }, start_s: 0, end_s: 0.5 });
  client.eventsSupported = false; // what wait remembers after a 404 `not_found` from an older server
  const done = await client.wait(task.id, { timeoutS: 60 });
  assert.equal(done.status, "succeeded");
  assert.ok(!log.some((r) => r.url.endsWith("/events")));
  assert.ok(log.filter((r) => r.url.endsWith(`/v1/video/tasks/${task.id}`)).length >= 1);
});

test("a dropped stream is resumed with Last-Event-ID", async () => {
  const seen = [];
  const task = { id: "t1", status: "succeeded", progress: 1 };
  const stub = await localServer((req, res) => {
    seen.push(req.headers["last-event-id"] ?? null);
    res.writeHead(200, { "content-type": "text/event-stream" });
    if (seen.length === 1) {
      // one event split across writes with CRLF line ends, a heartbeat, then the connection drops
      res.write(": heartbeat\r\n\r\nid: 2\r\nevent: status\r");
      res.write('\ndata: {"status":"running"}\r\n\r\n');
      setTimeout(() => res.destroy(), 50);
      return;
    }
    res.end(`id: 9\nevent: task\ndata: ${JSON.stringify(task)}\n\n`);
  });
  try {
    const client = new Client({ baseUrl: stub.url, apiKey: "vk_test" });
    assert.deepEqual(await client.wait("t1", { timeoutS: 10 }), task);
    assert.deepEqual(seen, [null, "2"]);
  } finally {
    await stub.close();
  }
});

test("wait keeps its deadline on a stream of heartbeats, then rejects with the last task seen", async () => {
  const running = { id: "t1", status: "running", progress: 0.5 };
  const stub = await localServer((req, res) => {
    if (req.url.endsWith("/events")) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      const beat = setInterval(() => res.write(": heartbeat\n\n"), 100);
      res.on("close", () => clearInterval(beat));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(running));
  });
  try {
    const client = new Client({ baseUrl: stub.url, apiKey: "vk_test" });
    const started = performance.now();
    const error = await client.wait("t1", { timeoutS: 1 }).catch((e) => e);
    assert.ok(error instanceof WaitTimeoutError, String(error));
    assert.deepEqual(error.task, running);
    assert.ok(performance.now() - started < 5000);
  } finally {
    await stub.close();
  }
});

test("the event-stream parser follows the WHATWG rules that matter", () => {
  const parser = new SseParser();
  const events = parser.push("retry: 1\n:comment\nid: 7\nevent: progress\ndata: a\ndata:b\n\ndata: plain\n\n");
  assert.deepEqual(events, [
    { event: "progress", data: "a\nb", id: "7" },
    { event: "message", data: "plain", id: "7" },
  ]);
  assert.deepEqual(parser.push("id: 8\ndata: x"), []);
  assert.equal(parser.lastId, "8");
  assert.deepEqual(parser.push("\n\n"), [{ event: "message", data: "x", id: "8" }]);
});
