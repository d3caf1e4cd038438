/** `Client`: the transport, retries, upload, wait over the event stream, pagination; one method per route. */
import { Backoff, idempotencyKey, retryDelayS, ROUTES, routeUrl, sleep, SseParser, TERMINAL } from "./core.js";
import { ApiError, errorFor, WaitTimeoutError } from "./errors.js";
import { Upload } from "./upload.js";
export const VERSION = "0.1.0";
/** A stream's read timeout: the server sends a heartbeat every 15 s, so silence past this is a dead link. */
const STREAM_READ_TIMEOUT_S = 45;
function env(name) {
    const proc = globalThis.process;
    return proc?.env?.[name] || undefined;
}
function timeoutSignal(seconds) {
    return AbortSignal.timeout(Math.max(1, Math.round(seconds * 1000)));
}
class Resource {
    client;
    constructor(client) {
        this.client = client;
    }
    create(name, body, options = {}) {
        return this.client.call(name, { body, idempotencyKey: options.idempotencyKey });
    }
}
/** `POST /v1/video/edit/{kind}`: each returns the queued task (202); `estimate` prices one first. */
export class Edit extends Resource {
    /** Music, ducking, text-to-speech narration, loudness normalisation. */
    audio(request, options) {
        return this.create("edit.audio", request, options);
    }
    /** Replace a video's background (chroma key, people or a prompted object) or make it transparent. */
    background(request, options) {
        return this.create("edit.background", request, options);
    }
    /** Transcribe the speech and burn it in as captions (word highlight, karaoke) or add a soft track. */
    captions(request, options) {
        return this.create("edit.captions", request, options);
    }
    /** Compose clips, images, colours, text and audio on tracks, with transitions. */
    composite(request, options) {
        return this.create("edit.composite", request, options);
    }
    /** Crop to another aspect (9:16...) with a virtual camera that follows the subject. */
    lipsync(request, options) {
        return this.create("edit.lipsync", request, options);
    }
    reframe(request, options) {
        return this.create("edit.reframe", request, options);
    }
    /** Burn in subtitles (SRT, WebVTT or segments) or add them as a soft track. */
    subtitles(request, options) {
        return this.create("edit.subtitles", request, options);
    }
    /** Poster frame, contact sheet, or frames at given times. */
    thumbnails(request, options) {
        return this.create("edit.thumbnails", request, options);
    }
    /** Resize, change fps, re-encode to MP4, WebM, MOV (H.264, HEVC, AV1, VP9, ProRes), GIF or an HLS ladder. */
    transcode(request, options) {
        return this.create("edit.transcode", request, options);
    }
    /** Cut ranges out of a video. */
    trim(request, options) {
        return this.create("edit.trim", request, options);
    }
    /** Cost and ETA of an edit (`kind` as in the route: `trim`, `composite`...), without creating a task. */
    estimate(kind, request) {
        return this.client.call(`edit.${kind}.estimate`, { body: request });
    }
}
/** `POST /v1/video/analyze/{kind}`: tasks whose result describes the input (and may cut it). */
export class Analyze extends Resource {
    /** Shot boundaries, a thumbnail per scene, optionally each scene as a clip. */
    scenes(request, options) {
        return this.create("analyze.scenes", request, options);
    }
    estimate(kind, request) {
        return this.client.call(`analyze.${kind}.estimate`, { body: request });
    }
}
/** `POST /v1/video/generate/{kind}`. */
export class Generate extends Resource {
    textToVideo(request, options) {
        return this.create("generate.text-to-video", request, options);
    }
    imageToVideo(request, options) {
        return this.create("generate.image-to-video", request, options);
    }
    styleTransfer(request, options) {
        return this.create("generate.style-transfer", request, options);
    }
    /** Cost and ETA of a generation (`kind`: `text-to-video`, `image-to-video`, `style-transfer`). */
    estimate(kind, request) {
        return this.client.call(`generate.${kind}.estimate`, { body: request });
    }
    /** The installed models and the classical styles. */
    models() {
        return this.client.call("models");
    }
}
/** Many creates in one call: all validated first, created together (all or nothing). */
export class Batch extends Resource {
    edit(items, options) {
        return this.create("batch.edit", { items }, options);
    }
    generate(items, options) {
        return this.create("batch.generate", { items }, options);
    }
}
export class Tasks extends Resource {
    get(taskId) {
        return this.client.call("tasks.get", { path: { task_id: taskId } });
    }
    /** One page, newest first; `next_cursor` fetches the next (or use `iterate`). */
    list(options = {}) {
        return this.client.call("tasks.list", { params: { ...options } });
    }
    /** Every task that matches, page after page: `for await (const task of client.tasks.iterate({kind}))`. */
    async *iterate(options = {}) {
        let cursor;
        for (;;) {
            const page = await this.list({ status: options.status, kind: options.kind, limit: options.pageSize ?? 100, cursor });
            yield* page.items;
            if (!page.next_cursor)
                return;
            cursor = page.next_cursor;
        }
    }
    cancel(taskId) {
        return this.client.call("tasks.cancel", { path: { task_id: taskId } });
    }
}
/** Steps of any task kind run as a graph; `{ step: "<id>" }` in a step's params reads an earlier output. */
export class Pipelines {
    client;
    // Not a `Resource`: its own `create` takes the steps, not a route name.
    constructor(client) {
        this.client = client;
    }
    /** Validate every step and create them all (202); `fields`: `priority`, `webhook_url`, `destinations`. */
    create(steps, fields = {}, options = {}) {
        return this.client.call("pipelines.create", { body: { ...fields, steps }, idempotencyKey: options.idempotencyKey });
    }
    get(pipelineId) {
        return this.client.call("pipelines.get", { path: { pipeline_id: pipelineId } });
    }
    /** One page, newest first; `next_cursor` fetches the next. */
    list(options = {}) {
        return this.client.call("pipelines.list", { params: { ...options } });
    }
    cancel(pipelineId) {
        return this.client.call("pipelines.cancel", { path: { pipeline_id: pipelineId } });
    }
    /** Run the failed and canceled steps again, and the steps that read them. */
    retry(pipelineId) {
        return this.client.call("pipelines.retry", { path: { pipeline_id: pipelineId } });
    }
}
export class Assets extends Resource {
    /** Fetch and probe a media URL now, and keep it as an asset. */
    registerUrl(url) {
        return this.client.call("assets.upload", { body: { url } });
    }
    /** Metadata and a fresh signed download URL. */
    get(assetId) {
        return this.client.call("assets.get", { path: { asset_id: assetId } });
    }
    delete(assetId) {
        return this.client.call("assets.delete", { path: { asset_id: assetId } });
    }
}
export class Webhooks extends Resource {
    /** The task's webhook deliveries with every attempt. */
    deliveries(taskId) {
        return this.client.call("webhooks.deliveries", { path: { task_id: taskId } });
    }
    redeliver(taskId) {
        return this.client.call("webhooks.redeliver", { path: { task_id: taskId } });
    }
    /** The `whsec_...` secrets that sign the caller's webhooks (for `verifyWebhook`). */
    secrets() {
        return this.client.call("webhooks.secrets");
    }
}
/**
 * The videoapi client. `new Client({ baseUrl, apiKey })`; every method returns a promise of the
 * answer's type, and a non-2xx answer rejects with the `ApiError` subclass of its status.
 */
export class Client {
    baseUrl;
    maxRetries;
    maxRetryWaitS;
    timeoutS;
    headers;
    /** Whether the server has the task event stream: null until `wait` has asked. */
    eventsSupported = null;
    edit = new Edit(this);
    generate = new Generate(this);
    analyze = new Analyze(this);
    batch = new Batch(this);
    tasks = new Tasks(this);
    pipelines = new Pipelines(this);
    assets = new Assets(this);
    webhooks = new Webhooks(this);
    #fetch;
    constructor(options = {}) {
        this.baseUrl = (options.baseUrl ?? env("VIDEOAPI_URL") ?? "http://127.0.0.1:8000").replace(/\/+$/, "");
        this.maxRetries = options.maxRetries ?? 3;
        this.maxRetryWaitS = options.maxRetryWaitS ?? 60;
        this.timeoutS = options.timeoutS ?? 60;
        this.headers = { ...(options.headers ?? {}) };
        const apiKey = options.apiKey ?? env("VIDEOAPI_KEY");
        if (apiKey)
            this.headers.authorization = `Bearer ${apiKey}`;
        const fetchImpl = options.fetch ?? globalThis.fetch;
        this.#fetch = (input, init) => fetchImpl(input, init); // unbound `fetch` throws in browsers
    }
    /** One request with the retry policy: 429 and 503 again after their `Retry-After`. */
    async #send(url, init, retry = true) {
        for (let attempt = 0;; attempt++) {
            const response = await this.#fetch(url, await init());
            const delayS = retryDelayS(response, attempt, this.maxRetryWaitS);
            if (delayS === null || attempt >= this.maxRetries || !retry)
                return response;
            await response.body?.cancel().catch(() => { });
            await sleep(delayS);
        }
    }
    #url(route, path, params) {
        const url = new URL(this.baseUrl + routeUrl(route, path));
        for (const [name, value] of Object.entries(params ?? {})) {
            if (value !== undefined && value !== null)
                url.searchParams.set(name, String(value));
        }
        return url.toString();
    }
    /** Call a route of `ROUTES` by name: the building block of every method. */
    async call(name, options = {}) {
        const route = ROUTES[name];
        const headers = { ...this.headers, accept: "application/json" };
        if (options.body !== undefined)
            headers["content-type"] = "application/json";
        if (route.create)
            headers["idempotency-key"] = options.idempotencyKey ?? idempotencyKey();
        const body = options.body === undefined ? undefined : JSON.stringify(options.body);
        const response = await this.#send(this.#url(route, options.path, options.params), () => ({
            method: route.method,
            headers,
            body,
            signal: timeoutSignal(this.timeoutS),
        }));
        return finish(response);
    }
    /**
     * Upload a media file: a path (Node), a `Blob`/`File`, bytes, or a stream. In Node the body is
     * streamed in 1 MiB chunks and `onProgress(sent, total)` runs after each. The file is probed by
     * the server; an unusable one rejects with an `UnprocessableEntityError` whose `code` says why.
     */
    async upload(source, options = {}) {
        const upload = await Upload.open(source, options.filename, options.contentType ?? "application/octet-stream", options.onProgress);
        let streamed = false;
        try {
            const response = await this.#send(this.#url(ROUTES["assets.upload"]), async () => {
                const body = await upload.body();
                streamed = body.streamed;
                return { method: "POST", headers: { ...this.headers, ...body.headers }, body: body.body, duplex: "half" };
            }, upload.rewindable);
            const asset = await finish(response);
            if (!streamed)
                upload.done();
            return asset;
        }
        finally {
            await upload.close();
        }
    }
    async download(url, dest) {
        const headers = { ...this.headers };
        if (new URL(url, this.baseUrl).origin !== new URL(this.baseUrl).origin)
            delete headers.authorization;
        const response = await this.#fetch(new URL(url, this.baseUrl).toString(), { headers });
        if (!response.ok)
            throw await errorFor(response);
        if (dest === undefined)
            return response;
        const [{ createWriteStream }, { Readable }, { pipeline }] = await Promise.all([
            import("node:fs"),
            import("node:stream"),
            import("node:stream/promises"),
        ]);
        await pipeline(Readable.fromWeb(response.body), createWriteStream(dest));
        return dest;
    }
    /** Credits by day and kind since `since` (YYYY-MM-DD; the start of the month by default). */
    usage(since) {
        return this.call("usage", { params: { since } });
    }
    /** Speech to text with word timings (`POST /v1/video/transcribe`); the result has SRT/WebVTT/JSON outputs. */
    transcribe(request, options = {}) {
        return this.call("transcribe", { body: request, idempotencyKey: options.idempotencyKey });
    }
    /**
     * The task once it is succeeded, failed or canceled; rejects with `WaitTimeoutError` after `timeoutS`.
     *
     * Over the task's event stream (`GET /v1/video/tasks/{id}/events`) when the server has one,
     * resumed with `Last-Event-ID` when it drops; else by polling with backoff (0.25 s, growing by
     * half to `pollMaxS`). A failed task is returned, not thrown: look at `status` and `error.code`.
     */
    async wait(taskId, options = {}) {
        const timeoutS = options.timeoutS ?? 600;
        const deadline = performance.now() + timeoutS * 1000;
        if (this.eventsSupported !== false) {
            const task = await this.#waitEvents(taskId, deadline);
            if (task !== null)
                return task;
        }
        const backoff = new Backoff(0.25, options.pollMaxS ?? 5);
        for (;;) {
            const task = await this.tasks.get(taskId);
            const remainingS = (deadline - performance.now()) / 1000;
            if (TERMINAL.has(task.status))
                return task;
            if (remainingS <= 0)
                throw new WaitTimeoutError(taskId, timeoutS, task);
            await sleep(backoff.next(remainingS));
        }
    }
    /** Follow the task's event stream to its final `task` event; null when the server has none or time is up. */
    async #waitEvents(taskId, deadline) {
        const parser = new SseParser();
        const url = this.#url(ROUTES["tasks.events"], { task_id: taskId });
        while (performance.now() < deadline) {
            const headers = { ...this.headers, accept: "text/event-stream" };
            if (parser.lastId)
                headers["last-event-id"] = parser.lastId;
            parser.reset();
            const abort = new AbortController();
            let timer;
            // Silence past the read timeout (or the deadline) aborts this connection; each chunk re-arms it.
            const arm = () => {
                clearTimeout(timer);
                const ms = Math.min(STREAM_READ_TIMEOUT_S * 1000, Math.max(100, deadline - performance.now()));
                timer = setTimeout(() => abort.abort(), ms);
            };
            arm();
            let response;
            try {
                response = await this.#fetch(url, { headers, signal: abort.signal });
                if (!response.ok) {
                    const error = await errorFor(response);
                    if (response.status === 404 || response.status === 405) {
                        // No such route (remembered), or no such task: either way poll, which says which.
                        if (error.code === "not_found" || error.code === "method_not_allowed")
                            this.eventsSupported = false;
                        return null;
                    }
                    throw error;
                }
                this.eventsSupported = true;
                const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done)
                        break; // the server closed early: resume from the last id
                    arm();
                    for (const event of parser.push(value)) {
                        if (event.event === "task")
                            return JSON.parse(event.data);
                    }
                    // heartbeats keep the stream alive, not the wait
                    if (performance.now() >= deadline)
                        return null;
                }
            }
            catch (error) {
                if (error instanceof ApiError)
                    throw error;
                // A connection that never answered is the caller's problem (wrong URL, server down), unless we aborted it.
                if (response === undefined && !abort.signal.aborted)
                    throw error;
            }
            finally {
                clearTimeout(timer);
                abort.abort();
            }
        }
        return null;
    }
}
async function finish(response) {
    if (!response.ok)
        throw await errorFor(response);
    if (response.status === 204)
        return undefined;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined);
}
