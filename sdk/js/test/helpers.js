// What the tests share: the live server from tests/sdk/test_js_sdk.py (VIDEOAPI_URL, VIDEOAPI_KEY,
// VIDEOAPI_TEST_CLIP...), a client whose requests and answers are recorded, and tiny local servers.
import assert from "node:assert/strict";
import { createServer } from "node:http";

import { Client } from "../dist/index.js";

export function need(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run these tests through tests/sdk/test_js_sdk.py`);
  return value;
}

/** A client on the live server that records each request's headers and each answer's status. */
export function recordingClient(options = {}) {
  const log = [];
  const client = new Client({
    baseUrl: need("VIDEOAPI_URL"),
    apiKey: need("VIDEOAPI_KEY"),
    ...options,
    fetch: async (input, init = {}) => {
      const entry = { url: String(input), method: init.method ?? "GET", headers: new Headers(init.headers) };
      log.push(entry);
      const response = await fetch(input, init);
      entry.status = response.status;
      entry.responseHeaders = response.headers;
      return response;
    },
  });
  return { client, log };
}

/** An HTTP server on 127.0.0.1 whose `handler(req, res, body)` answers; `url` is its base. */
export async function localServer(handler) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => handler(req, res, Buffer.concat(chunks)));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

export function colorTimeline(color, durationS = 0.2) {
  return {
    timeline: { tracks: [{ clips: [{ type: "color", color, duration_s: durationS }] }] },
    output: { width: 64, height: 64, fps: 5 },
  };
}
