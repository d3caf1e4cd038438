import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, AuthenticationError, Client, NotFoundError, UnprocessableEntityError, VideoApiError } from "../dist/index.js";
import { need, recordingClient } from "./helpers.js";

async function rejection(promise) {
  return promise.then(
    () => assert.fail("expected an error"),
    (error) => error,
  );
}

test("a bad request rejects with the typed error carrying the problem's code and field", async () => {
  const { client } = recordingClient();
  const invalid = await rejection(client.edit.trim({ input: { asset_id: "nope" }, start_s: 0, end_s: 100000 }));
  assert.ok(invalid instanceof UnprocessableEntityError && invalid instanceof ApiError && invalid instanceof VideoApiError);
  assert.equal(invalid.status, 422);
  assert.ok(invalid.code && invalid.detail);
  assert.deepEqual(invalid.errors.map((e) => e.field), ["end_s"]);

  const noAsset = await rejection(client.edit.trim({ input: { asset_id: "nope" }, start_s: 0, end_s: 1 }));
  assert.ok(noAsset instanceof NotFoundError);
  assert.equal(noAsset.code, "asset_not_found");
  const noTask = await rejection(client.tasks.get("no-such-task"));
  assert.equal(noTask.code, "task_not_found");
  // the events route's 404 falls back to polling, which says why
  const waited = await rejection(client.wait("no-such-task", { timeoutS: 5 }));
  assert.ok(waited instanceof NotFoundError);
  assert.equal(waited.code, "task_not_found");

  const anonymous = new Client({ baseUrl: need("VIDEOAPI_URL"), apiKey: "vk_wrong" });
  const denied = await rejection(anonymous.usage());
  assert.ok(denied instanceof AuthenticationError);
  assert.equal(denied.status, 401);
  assert.ok(denied.code);
});

test("a non-problem error body still rejects by status", async () => {
  const { client } = recordingClient();
  const error = await rejection(client.download(need("VIDEOAPI_URL") + "/nothing-here"));
  assert.ok(error instanceof NotFoundError);
  assert.equal(error.status, 404);
  assert.ok(error.headers instanceof Headers);
});
