/**
 * JavaScript/TypeScript client of the videoapi HTTP API (fetch-based: Node 20+ and browsers).
 *
 * ```ts
 * import { Client } from "videoapi-client";
 *
 * const client = new Client({ baseUrl: "http://127.0.0.1:8000", apiKey: "vk_..." });
 * const asset = await client.upload("clip.mp4");
 * const task = await client.edit.trim({ input: { asset_id: asset.id }, start_s: 1, end_s: 3 });
 * const done = await client.wait(task.id, { timeoutS: 120 });
 * ```
 */
export { Client, Edit, Analyze, Generate, Batch, Tasks, Pipelines, Assets, Webhooks, VERSION, } from "./client.js";
export { ROUTES, SseParser, retryDelayS } from "./core.js";
export { VideoApiError, ApiError, BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError, GoneError, PayloadTooLargeError, UnprocessableEntityError, RateLimitedError, ServerError, ServiceUnavailableError, WaitTimeoutError, WebhookVerificationError, } from "./errors.js";
export { verifyWebhook } from "./webhooks.js";
