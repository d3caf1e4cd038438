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
export { Client, Edit, Analyze, Generate, Batch, Tasks, Pipelines, Assets, Webhooks, VERSION, type ClientOptions, type CreateOptions, type UploadOptions, type WaitOptions, type ListOptions, type EditKind, type EditRequests, type GenerateKind, type GenerateRequests, } from "./client.js";
export { ROUTES, SseParser, retryDelayS, type Route, type RouteName, type SseEvent } from "./core.js";
export { VideoApiError, ApiError, BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError, GoneError, PayloadTooLargeError, UnprocessableEntityError, RateLimitedError, ServerError, ServiceUnavailableError, WaitTimeoutError, WebhookVerificationError, type FieldError, } from "./errors.js";
export { verifyWebhook, type WebhookEvent, type HeaderSource, type VerifyOptions } from "./webhooks.js";
export type { Progress, UploadSource } from "./upload.js";
export type * from "./openapi.js";
