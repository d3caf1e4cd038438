import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, RateLimitedError, retryDelayS, ServiceUnavailableError } from "../dist/index.js";
import { localServer, need, recordingClient } from "./helpers.js";

test("a 429 from the live server is retried after its Retry-After", async () => {
  const { client, log } = recordingClient({ apiKey: need("VIDEOAPI_SLOW_KEY") });
  await client.usage();
  const started = performance.now();
  const usage = await client.usage(); // the bucket is empty: 429, Retry-After: 5, then 200
  assert.equal(usage.total_tasks, 0);
  assert.deepEqual(log.map((r) => r.status).slice(0, 2), [200, 429]);
  assert.equal(log.at(-1).status, 200);
  const waitedS = Number(log[1].responseHeaders.get("retry-after"));
  assert.ok(waitedS >= 1 && performance.now() - started >= waitedS * 1000 - 50);

  const impatient = new Client({ baseUrl: need("VIDEOAPI_URL"), apiKey: need("VIDEOAPI_IMPATIENT_KEY"), maxRetries: 0 });
  await impatient.usage();
  const error = await impatient.usage().catch((e) => e);
  assert.ok(error instanceof RateLimitedError);
  assert.equal(error.code, "rate_limited");
  assert.ok(Number(error.headers.get("retry-after")) >= 1);
});

test("a 503 with an HTTP-date Retry-After is retried with the same Idempotency-Key; a long one is not waited out", async () => {
  const keys = [];
  let answers = 0;
  const stub = await localServer((req, res) => {
    keys.push(req.headers["idempotency-key"]);
    answers += 1;
    if (req.url === "/v1/video/edit/composite" && answers === 1) {
      res.writeHead(503, { "retry-after": new Date(Date.now() + 1000).toUTCString(), "content-type": "application/problem+json" });
      res.end(JSON.stringify({ code: "service_unavailable", title: "Service Unavailable", detail: "busy", status: 503 }));
    } else if (req.url === "/v1/video/edit/composite") {
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "t1", status: "queued" }));
    } else {
      res.writeHead(503, { "retry-after": "3600", "content-type": "application/problem+json" });
      res.end(JSON.stringify({ code: "service_unavailable", title: "Service Unavailable", detail: "down", status: 503 }));
    }
  });
  try {
    const client = new Client({ baseUrl: stub.url, apiKey: "vk_test" });
    const task = await client.edit.composite({ timeline: { tracks: [] } });
    assert.equal(task.id, "t1");
    assert.equal(keys.length, 2);
    assert.match(keys[0], /^sdk-[0-9a-f]{32}$/);
    assert.equal(keys[1], keys[0]);
    const error = await client.usage().catch((e) => e);
    assert.ok(error instanceof ServiceUnavailableError);
    assert.equal(error.code, "service_unavailable");
    assert.equal(answers, 3, "a Retry-After past maxRetryWaitS is not retried");
  } finally {
    await stub.close();
  }
});

test("retryDelayS reads seconds and HTTP dates, and backs off without the header", () => {
  const answer = (status, headers = {}) => new Response(null, { status, headers });
  assert.equal(retryDelayS(answer(200), 0, 60), null);
  assert.equal(retryDelayS(answer(500), 0, 60), null);
  assert.equal(retryDelayS(answer(429, { "retry-after": "2" }), 0, 60), 2);
  assert.equal(retryDelayS(answer(429, { "retry-after": "120" }), 0, 60), null);
  assert.deepEqual([0, 1, 2].map((n) => retryDelayS(answer(503), n, 60)), [0.5, 1, 2]);
  const now = Date.parse("2026-12-04T10:00:00Z");
  assert.equal(retryDelayS(answer(503, { "retry-after": "Fri, 04 Dec 2026 10:00:05 GMT" }), 0, 60, now), 5);
});
