import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";

import { verifyWebhook, WebhookVerificationError } from "../dist/index.js";
import { colorTimeline, localServer, recordingClient } from "./helpers.js";

const b64 = (text) => Buffer.from(text).toString("base64");
const OLD = `whsec_${b64("o".repeat(32))}`;
const NEW = `whsec_${b64("n".repeat(32))}`;

/** The Standard Webhooks signature, written independently of the SDK (node:crypto, not Web Crypto). */
function sign(secret, id, at, body) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  return "v1," + createHmac("sha256", key).update(`${id}.${at}.`).update(body).digest("base64");
}

function signed(secrets, at, body) {
  return { "Webhook-Id": "msg_1", "Webhook-Timestamp": String(at), "Webhook-Signature": secrets.map((s) => sign(s, "msg_1", at, body)).join(" ") };
}

test("a webhook delivered by the server verifies with the key's secret; a tampered one does not", async () => {
  const received = [];
  let arrived;
  const arrival = new Promise((resolve) => { arrived = resolve; });
  const receiver = await localServer((req, res, body) => {
    received.push({ headers: req.headers, body });
    res.writeHead(204).end();
    arrived();
  });
  try {
    const { client } = recordingClient();
    const task = await client.edit.composite({ ...colorTimeline("blue"), webhook_url: `${receiver.url}/sdk` });
    await client.wait(task.id, { timeoutS: 60 });
    await Promise.race([arrival, new Promise((_, reject) => setTimeout(() => reject(new Error("no webhook in 20 s")), 20000))]);
    const { secrets } = await client.webhooks.secrets();
    const { headers, body } = received[0];
    const event = await verifyWebhook(secrets, headers, body);
    assert.equal(event.type, "task.succeeded");
    assert.equal(event.data.id, task.id);
    // the same request from a fetch-style server: Headers and the body as text
    assert.equal((await verifyWebhook(secrets, new Headers(headers), body.toString("utf8"))).data.id, task.id);

    const tampered = Buffer.from(body.toString("utf8").replace("task.succeeded", "task.failed!"));
    await assert.rejects(verifyWebhook(secrets, headers, tampered), (e) => e instanceof WebhookVerificationError && /no valid signature/.test(e.message));
    await assert.rejects(verifyWebhook(OLD, headers, body), /no valid signature/);
    // The server records the attempt once our answer reached it: a moment after the request arrived.
    let deliveries = await client.webhooks.deliveries(task.id);
    for (let i = 0; i < 100 && deliveries.items[0]?.status === "pending"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      deliveries = await client.webhooks.deliveries(task.id);
    }
    assert.equal(deliveries.items[0].status, "succeeded");
  } finally {
    await receiver.close();
  }
});

test("a request signed during a rotation verifies with either secret", async () => {
  const body = Buffer.from(JSON.stringify({ type: "task.succeeded", timestamp: "2026-12-03T10:00:01Z", data: { id: "t1" } }));
  const headers = signed([NEW, OLD], Math.floor(Date.now() / 1000), body);
  const other = `whsec_${b64("x".repeat(32))}`;
  for (const secret of [OLD, NEW, [other, NEW]]) {
    assert.equal((await verifyWebhook(secret, headers, body)).data.id, "t1");
  }
  await assert.rejects(verifyWebhook(other, headers, body), /no valid signature/);
  const tampered = Buffer.from(body.toString().replace("t1", "t2"));
  await assert.rejects(verifyWebhook([OLD, NEW], headers, tampered), /no valid signature/);
  const otherId = { ...headers, "Webhook-Id": "msg_2" };
  await assert.rejects(verifyWebhook(NEW, otherId, body), /no valid signature/);
});

test("a stale, future, unsigned or badly keyed request is refused", async () => {
  const body = Buffer.from('{"type":"task.failed","timestamp":"2026-12-03T10:00:01Z","data":{"id":"t1"}}');
  const now = Math.floor(Date.now() / 1000);
  await assert.rejects(verifyWebhook(NEW, signed([NEW], now - 301, body), body), /too old/);
  await assert.rejects(verifyWebhook(NEW, signed([NEW], now + 301, body), body), /in the future/);
  assert.equal((await verifyWebhook(NEW, signed([NEW], now - 301, body), body, { toleranceS: 400 })).type, "task.failed");
  const unsigned = signed([NEW], now, body);
  delete unsigned["Webhook-Signature"];
  await assert.rejects(verifyWebhook(NEW, unsigned, body), /missing/);
  await assert.rejects(verifyWebhook("whsec_not base64!", signed([NEW], now, body), body), /whsec_<base64>/);
});
