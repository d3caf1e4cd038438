import assert from "node:assert/strict";
import { test } from "node:test";

import { ConflictError } from "../dist/index.js";
import { colorTimeline, need, recordingClient } from "./helpers.js";

test("creates carry an Idempotency-Key and a replay with your own returns the same task", async () => {
  const { client, log } = recordingClient();
  const asset = await client.upload(need("VIDEOAPI_TEST_CLIP"));
  assert.equal(log.at(-1).headers.get("idempotency-key"), null, "an upload is no create");
  const body = { ...colorTimeline("green"), priority: "low" };
  const first = await client.edit.composite(body);
  const second = await client.edit.composite(body);
  assert.notEqual(first.id, second.id, "a fresh automatic key per call");
  const [a, b] = log.slice(-2).map((r) => r.headers.get("idempotency-key"));
  assert.match(a, /^sdk-[0-9a-f]{32}$/);
  assert.match(b, /^sdk-[0-9a-f]{32}$/);
  assert.notEqual(a, b);

  const mine = await client.edit.composite(body, { idempotencyKey: "order-4711" });
  const again = await client.edit.composite(body, { idempotencyKey: "order-4711" });
  assert.equal(again.id, mine.id);
  assert.equal(log.at(-1).headers.get("idempotency-key"), "order-4711");
  assert.equal(log.at(-1).responseHeaders.get("idempotent-replayed"), "true");
  const reused = await client.edit.composite({ ...body, priority: "high" }, { idempotencyKey: "order-4711" }).catch((e) => e);
  assert.ok(reused instanceof ConflictError);
  assert.equal(reused.code, "idempotency_key_reused");

  await client.tasks.get(first.id);
  assert.equal(log.at(-1).headers.get("idempotency-key"), null, "a read is no create");
});
