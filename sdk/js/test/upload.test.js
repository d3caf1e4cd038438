import assert from "node:assert/strict";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { test } from "node:test";

import { GoneError } from "../dist/index.js";
import { need, recordingClient } from "./helpers.js";

test("upload streams a file from a path in chunks and reports progress", async () => {
  const { client, log } = recordingClient();
  const clip = need("VIDEOAPI_TEST_CLIP");
  const size = statSync(clip).size;
  const seen = [];
  const asset = await client.upload(clip, { onProgress: (sent, total) => seen.push([sent, total]) });
  assert.equal(asset.size_bytes, size);
  assert.equal(asset.filename, "small.mp4");
  assert.equal(asset.media.video.width, 160);
  assert.deepEqual(seen.at(-1), [size, size]);
  assert.deepEqual(seen.map(([s]) => s), seen.map(([s]) => s).toSorted((a, b) => a - b));
  const sent = log.at(-1).headers;
  assert.match(sent.get("content-type"), /^multipart\/form-data; boundary=/);
  assert.ok(Number(sent.get("content-length")) > size, "a file of known size goes with its Content-Length");
  assert.equal((await client.assets.get(asset.id)).id, asset.id);
});

test("upload takes a Blob, bytes and a stream of unknown length", async () => {
  const { client } = recordingClient();
  const clip = need("VIDEOAPI_TEST_CLIP");
  const bytes = readFileSync(clip);
  const fromBlob = await client.upload(new File([bytes], "blob.mp4", { type: "video/mp4" }));
  assert.equal(fromBlob.filename, "blob.mp4");
  assert.equal(fromBlob.size_bytes, bytes.length);
  const fromBytes = await client.upload(new Uint8Array(bytes), { filename: "bytes.mp4" });
  assert.equal(fromBytes.size_bytes, bytes.length);
  const progress = [];
  const fromStream = await client.upload(createReadStream(clip), {
    filename: "stream.mp4",
    onProgress: (sent, total) => progress.push([sent, total]),
  });
  assert.equal(fromStream.size_bytes, bytes.length);
  assert.deepEqual(progress.at(-1), [bytes.length, null]);
  await client.assets.delete(fromStream.id);
  await assert.rejects(client.assets.get(fromStream.id), GoneError);
});
