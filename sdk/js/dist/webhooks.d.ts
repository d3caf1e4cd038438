/** Webhook signature verification (Standard Webhooks, as docs/api/webhooks.md describes), with Web Crypto. */
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
/**
 * Check a webhook request and return its event; throw `WebhookVerificationError` otherwise.
 *
 * `secrets` is the key's `whsec_...` secret (or several, while you rotate). `body` must be the raw
 * body as received (bytes, or the exact text): the signature covers it exactly, so re-encoded JSON
 * does not verify. The signatures are checked by `crypto.subtle.verify` (constant time).
 */
export declare function verifyWebhook(secrets: string | readonly string[], headers: HeaderSource, body: string | Uint8Array | ArrayBuffer, options?: VerifyOptions): Promise<WebhookEvent>;
