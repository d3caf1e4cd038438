/** What the client builds on: the route table, retry timing, poll backoff and the text/event-stream parser. */
export const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
export const RETRY_STATUSES = new Set([429, 503]);
function route(method, path, create = false) {
    return { method: method.toUpperCase(), path, create };
}
/** Every route the SDK calls, by the name the Python SDK gives it (`videoapi_client.ROUTES`). */
export const ROUTES = {
    "edit.audio": route("post", "/v1/video/edit/audio", true),
    "edit.audio.estimate": route("post", "/v1/video/edit/audio/estimate"),
    "edit.background": route("post", "/v1/video/edit/background", true),
    "edit.background.estimate": route("post", "/v1/video/edit/background/estimate"),
    "edit.captions": route("post", "/v1/video/edit/captions", true),
    "edit.captions.estimate": route("post", "/v1/video/edit/captions/estimate"),
    "edit.composite": route("post", "/v1/video/edit/composite", true),
    "edit.composite.estimate": route("post", "/v1/video/edit/composite/estimate"),
    "edit.lipsync": route("post", "/v1/video/edit/lipsync", true),
    "edit.lipsync.estimate": route("post", "/v1/video/edit/lipsync/estimate"),
    "edit.reframe": route("post", "/v1/video/edit/reframe", true),
    "edit.reframe.estimate": route("post", "/v1/video/edit/reframe/estimate"),
    "edit.subtitles": route("post", "/v1/video/edit/subtitles", true),
    "edit.subtitles.estimate": route("post", "/v1/video/edit/subtitles/estimate"),
    "edit.thumbnails": route("post", "/v1/video/edit/thumbnails", true),
    "edit.thumbnails.estimate": route("post", "/v1/video/edit/thumbnails/estimate"),
    "edit.transcode": route("post", "/v1/video/edit/transcode", true),
    "edit.transcode.estimate": route("post", "/v1/video/edit/transcode/estimate"),
    "edit.trim": route("post", "/v1/video/edit/trim", true),
    "edit.trim.estimate": route("post", "/v1/video/edit/trim/estimate"),
    "analyze.scenes": route("post", "/v1/video/analyze/scenes", true),
    "analyze.scenes.estimate": route("post", "/v1/video/analyze/scenes/estimate"),
    "generate.text-to-video": route("post", "/v1/video/generate/text-to-video", true),
    "generate.text-to-video.estimate": route("post", "/v1/video/generate/text-to-video/estimate"),
    "generate.image-to-video": route("post", "/v1/video/generate/image-to-video", true),
    "generate.image-to-video.estimate": route("post", "/v1/video/generate/image-to-video/estimate"),
    "generate.style-transfer": route("post", "/v1/video/generate/style-transfer", true),
    "generate.style-transfer.estimate": route("post", "/v1/video/generate/style-transfer/estimate"),
    transcribe: route("post", "/v1/video/transcribe", true),
    "transcribe.estimate": route("post", "/v1/video/transcribe/estimate"),
    "batch.edit": route("post", "/v1/video/batch/edit", true),
    "batch.generate": route("post", "/v1/video/batch/generate", true),
    "tasks.get": route("get", "/v1/video/tasks/{task_id}"),
    "tasks.list": route("get", "/v1/video/tasks"),
    "tasks.cancel": route("post", "/v1/video/tasks/{task_id}/cancel"),
    "tasks.events": route("get", "/v1/video/tasks/{task_id}/events"),
    "pipelines.create": route("post", "/v1/video/pipelines", true),
    "pipelines.get": route("get", "/v1/video/pipelines/{pipeline_id}"),
    "pipelines.list": route("get", "/v1/video/pipelines"),
    "pipelines.cancel": route("post", "/v1/video/pipelines/{pipeline_id}/cancel"),
    "pipelines.retry": route("post", "/v1/video/pipelines/{pipeline_id}/retry"),
    "assets.upload": route("post", "/v1/video/assets"),
    "assets.get": route("get", "/v1/video/assets/{asset_id}"),
    "assets.delete": route("delete", "/v1/video/assets/{asset_id}"),
    usage: route("get", "/v1/video/usage"),
    models: route("get", "/v1/video/models"),
    "watermark.detect": route("post", "/v1/video/watermark/detect"),
    "webhooks.deliveries": route("get", "/v1/video/tasks/{task_id}/webhooks"),
    "webhooks.redeliver": route("post", "/v1/video/tasks/{task_id}/webhooks/redeliver"),
    "webhooks.secrets": route("get", "/v1/video/webhooks/secret"),
};
/** The route's path with its `{name}` parameters filled in (URL-encoded). */
export function routeUrl(route, params = {}) {
    return route.path.replace(/\{(\w+)\}/g, (_, name) => {
        const value = params[name];
        if (value === undefined)
            throw new TypeError(`${route.path}: missing ${name}`);
        return encodeURIComponent(value);
    });
}
/** 32 random hex digits (`crypto.randomUUID` exists only in a browser's secure contexts; this everywhere). */
export function randomHex(bytes = 16) {
    return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}
export function idempotencyKey() {
    return `sdk-${randomHex()}`;
}
/**
 * Seconds to wait before retrying this answer, or null when it must not be retried.
 *
 * 429 and 503 are retried: after `Retry-After` (seconds or an HTTP date) when the server sends it,
 * else with exponential backoff from 0.5 s. A `Retry-After` longer than `maxWaitS` is not waited
 * out: the caller gets the error and its headers instead.
 */
export function retryDelayS(response, attempt, maxWaitS, nowMs = Date.now()) {
    if (!RETRY_STATUSES.has(response.status))
        return null;
    const header = response.headers.get("retry-after");
    if (header === null)
        return Math.min(0.5 * 2 ** attempt, maxWaitS);
    let delayS = Number(header.trim());
    if (header.trim() === "" || !Number.isFinite(delayS)) {
        const at = Date.parse(header);
        delayS = Number.isNaN(at) ? 0 : (at - nowMs) / 1000;
    }
    delayS = Math.max(0, delayS);
    return delayS <= maxWaitS ? delayS : null;
}
/** Poll intervals of `wait`: start fast, grow by half each time, never past `maxS`. */
export class Backoff {
    startS;
    maxS;
    nextS = 0;
    constructor(startS = 0.25, maxS = 5) {
        this.startS = startS;
        this.maxS = maxS;
    }
    next(remainingS) {
        this.nextS = this.nextS ? Math.min(this.maxS, this.nextS * 1.5) : this.startS;
        return Math.max(0, Math.min(this.nextS, remainingS));
    }
}
export function sleep(seconds) {
    return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}
/** Incremental text/event-stream parser (the WHATWG rules that matter here); `lastId` resumes a stream. */
export class SseParser {
    lastId = null;
    event = "";
    data = [];
    buffer = "";
    /** A new connection: drop a half-received line or event, keep `lastId`. */
    reset() {
        this.event = "";
        this.data = [];
        this.buffer = "";
    }
    /** Decoded text as it arrives; returns the events it completes. */
    push(text) {
        this.buffer += text;
        const events = [];
        for (;;) {
            const match = /\r\n|\r|\n/.exec(this.buffer);
            // A lone `\r` at the end may be the first half of `\r\n`: wait for the next chunk.
            if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1))
                break;
            const line = this.buffer.slice(0, match.index);
            this.buffer = this.buffer.slice(match.index + match[0].length);
            const event = this.feed(line);
            if (event)
                events.push(event);
        }
        return events;
    }
    /** One line without its newline; returns the event that a blank line completes. */
    feed(line) {
        if (line === "") {
            if (this.data.length === 0 && !this.event)
                return null;
            const event = { event: this.event || "message", data: this.data.join("\n"), id: this.lastId };
            this.event = "";
            this.data = [];
            return event;
        }
        if (line.startsWith(":"))
            return null; // a comment: the heartbeat
        const colon = line.indexOf(":");
        const name = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        if (name === "event")
            this.event = value;
        else if (name === "data")
            this.data.push(value);
        else if (name === "id" && !value.includes("\0"))
            this.lastId = value;
        return null;
    }
}
