import assert from "node:assert/strict";
import { test } from "node:test";

import { colorTimeline, recordingClient } from "./helpers.js";

test("tasks.iterate walks every page with the cursor", async () => {
  const { client, log } = recordingClient();
  const made = new Set();
  for (let i = 0; i < 3; i++) made.add((await client.edit.composite({ ...colorTimeline("red"), priority: "low" })).id);
  const listed = [];
  for await (const task of client.tasks.iterate({ kind: "edit.composite", pageSize: 2 })) listed.push(task.id);
  for (const id of made) assert.ok(listed.includes(id), `${id} listed`);
  assert.equal(new Set(listed).size, listed.length);
  const pages = log.filter((r) => new URL(r.url).pathname === "/v1/video/tasks");
  assert.ok(pages.length >= 2);
  assert.equal(new URL(pages[0].url).searchParams.get("limit"), "2");
  assert.equal(new URL(pages[0].url).searchParams.get("cursor"), null);
  assert.ok(new URL(pages[1].url).searchParams.get("cursor"));

  const first = await client.tasks.list({ kind: "edit.composite", limit: 2 });
  assert.equal(first.items.length, 2);
  assert.ok(first.next_cursor);
});
