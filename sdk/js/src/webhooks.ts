/** Webhook signature verification (Standard Webhooks, as docs/api/webhooks.md describes), with Web Crypto. */

import { WebhookVerificationError } from "./errors.js";
import type { TaskOut } from "./openapi.js";

/** The body of a webhook request: `task.succeeded`, `task.failed` or `task.canceled`. */
export interface WebhookEvent {
  type: string;
  timestamp: string;
  data: TaskOut;
}

/** A `Headers`, a plain object (any case) or Node's `IncomingHttpHeaders`. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Seconds the `webhook-timestamp` may be from now (300). */
  toleranceS?: number;
  /** The current time in seconds (tests). */
  nowS?: number;
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(" ") : value;
  }
  return undefined;
}

function decodeBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBytes(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === "string") return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/**
 * Check a webhook request and return its event; throw `WebhookVerificationError` otherwise.
 *
 * `secrets` is the key's `whsec_...` secret (or several, while you rotate). `body` must be the raw
 * body as received (bytes, or the exact text): the signature covers it exactly, so re-encoded JSON
 * does not verify. The signatures are checked by `crypto.subtle.verify` (constant time).
 */
export async function verifyWebhook(
  secrets: string | readonly string[],
  headers: HeaderSource,
  body: string | Uint8Array | ArrayBuffer,
  options: VerifyOptions = {},
): Promise<WebhookEvent> {
  const msgId = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!msgId || !timestamp || !signatures) {
    throw new WebhookVerificationError("missing or malformed webhook header: webhook-id, webhook-timestamp and webhook-signature are needed");
  }
  if (!/^\d+$/.test(timestamp.trim())) throw new WebhookVerificationError("missing or malformed webhook header: webhook-timestamp");
  const nowS = options.nowS ?? Date.now() / 1000;
  if (Math.abs(nowS - Number(timestamp)) > (options.toleranceS ?? 300)) {
    throw new WebhookVerificationError("timestamp too old or in the future");
  }
  const raw = toBytes(body);
  const prefix = new TextEncoder().encode(`${msgId}.${timestamp}.`);
  const signed = new Uint8Array(prefix.byteLength + raw.byteLength);
  signed.set(prefix);
  signed.set(raw, prefix.byteLength);
  const candidates = signatures
    .split(/\s+/)
    .filter((s) => s.startsWith("v1,"))
    .map((s) => decodeBase64(s.slice(3)))
    .filter((s): s is Uint8Array => s !== null);
  for (const secret of typeof secrets === "string" ? [secrets] : secrets) {
    const key = decodeBase64(secret.startsWith("whsec_") ? secret.slice(6) : secret);
    if (key === null || key.byteLength === 0) throw new WebhookVerificationError("a secret is not a whsec_<base64> string");
    const hmac = await crypto.subtle.importKey("raw", key as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    for (const signature of candidates) {
      if (await crypto.subtle.verify("HMAC", hmac, signature as Uint8Array<ArrayBuffer>, signed)) {
        return JSON.parse(new TextDecoder().decode(raw)) as WebhookEvent;
      }
    }
  }
  throw new WebhookVerificationError("no valid signature");
}
