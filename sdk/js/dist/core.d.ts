/** What the client builds on: the route table, retry timing, poll backoff and the text/event-stream parser. */
export declare const TERMINAL: ReadonlySet<string>;
export declare const RETRY_STATUSES: ReadonlySet<number>;
export interface Route {
    method: "GET" | "POST" | "DELETE";
    path: string;
    /** A create: it gets an automatic Idempotency-Key, so a retried request makes one task. */
    create: boolean;
}
/** Every route the SDK calls, by the name the Python SDK gives it (`videoapi_client.ROUTES`). */
export declare const ROUTES: {
    readonly "edit.audio": Route;
    readonly "edit.audio.estimate": Route;
    readonly "edit.background": Route;
    readonly "edit.background.estimate": Route;
    readonly "edit.captions": Route;
    readonly "edit.captions.estimate": Route;
    readonly "edit.composite": Route;
    readonly "edit.composite.estimate": Route;
    readonly "edit.lipsync": Route;
    readonly "edit.lipsync.estimate": Route;
    readonly "edit.reframe": Route;
    readonly "edit.reframe.estimate": Route;
    readonly "edit.subtitles": Route;
    readonly "edit.subtitles.estimate": Route;
    readonly "edit.thumbnails": Route;
    readonly "edit.thumbnails.estimate": Route;
    readonly "edit.transcode": Route;
    readonly "edit.transcode.estimate": Route;
    readonly "edit.trim": Route;
    readonly "edit.trim.estimate": Route;
    readonly "analyze.scenes": Route;
    readonly "analyze.scenes.estimate": Route;
    readonly "generate.text-to-video": Route;
    readonly "generate.text-to-video.estimate": Route;
    readonly "generate.image-to-video": Route;
    readonly "generate.image-to-video.estimate": Route;
    readonly "generate.style-transfer": Route;
    readonly "generate.style-transfer.estimate": Route;
    readonly transcribe: Route;
    readonly "transcribe.estimate": Route;
    readonly "batch.edit": Route;
    readonly "batch.generate": Route;
    readonly "tasks.get": Route;
    readonly "tasks.list": Route;
    readonly "tasks.cancel": Route;
    readonly "tasks.events": Route;
    readonly "pipelines.create": Route;
    readonly "pipelines.get": Route;
    readonly "pipelines.list": Route;
    readonly "pipelines.cancel": Route;
    readonly "pipelines.retry": Route;
    readonly "assets.upload": Route;
    readonly "assets.get": Route;
    readonly "assets.delete": Route;
    readonly usage: Route;
    readonly models: Route;
    readonly "watermark.detect": Route;
    readonly "webhooks.deliveries": Route;
    readonly "webhooks.redeliver": Route;
    readonly "webhooks.secrets": Route;
};
export type RouteName = keyof typeof ROUTES;
/** The route's path with its `{name}` parameters filled in (URL-encoded). */
export declare function routeUrl(route: Route, params?: Record<string, string>): string;
/** 32 random hex digits (`crypto.randomUUID` exists only in a browser's secure contexts; this everywhere). */
export declare function randomHex(bytes?: number): string;
export declare function idempotencyKey(): string;
/**
 * Seconds to wait before retrying this answer, or null when it must not be retried.
 *
 * 429 and 503 are retried: after `Retry-After` (seconds or an HTTP date) when the server sends it,
 * else with exponential backoff from 0.5 s. A `Retry-After` longer than `maxWaitS` is not waited
 * out: the caller gets the error and its headers instead.
 */
export declare function retryDelayS(response: Response, attempt: number, maxWaitS: number, nowMs?: number): number | null;
/** Poll intervals of `wait`: start fast, grow by half each time, never past `maxS`. */
export declare class Backoff {
    readonly startS: number;
    readonly maxS: number;
    private nextS;
    constructor(startS?: number, maxS?: number);
    next(remainingS: number): number;
}
export declare function sleep(seconds: number): Promise<void>;
export interface SseEvent {
    event: string;
    data: string;
    id: string | null;
}
/** Incremental text/event-stream parser (the WHATWG rules that matter here); `lastId` resumes a stream. */
export declare class SseParser {
    lastId: string | null;
    private event;
    private data;
    private buffer;
    /** A new connection: drop a half-received line or event, keep `lastId`. */
    reset(): void;
    /** Decoded text as it arrives; returns the events it completes. */
    push(text: string): SseEvent[];
    /** One line without its newline; returns the event that a blank line completes. */
    feed(line: string): SseEvent | null;
}
