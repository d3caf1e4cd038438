/** `Client`: the transport, retries, upload, wait over the event stream, pagination; one method per route. */
import { type RouteName } from "./core.js";
import type * as T from "./openapi.js";
import { type Progress, type UploadSource } from "./upload.js";
export declare const VERSION = "0.1.0";
export interface ClientOptions {
    /** The API's base URL; `VIDEOAPI_URL` in Node, else `http://127.0.0.1:8000`. */
    baseUrl?: string;
    /** The API key (`vk_...`); `VIDEOAPI_KEY` in Node. */
    apiKey?: string;
    /** Retries of a 429 or 503 answer, each after its `Retry-After` (3). */
    maxRetries?: number;
    /** A `Retry-After` longer than this is not waited out: the error is thrown (60). */
    maxRetryWaitS?: number;
    /** Each call but an upload, download or event stream is aborted after this (60). */
    timeoutS?: number;
    /** Extra headers on every request. */
    headers?: Record<string, string>;
    /** The fetch to use (the global one by default). */
    fetch?: typeof fetch;
}
export interface CreateOptions {
    /** Your own `Idempotency-Key`; by default each call gets a fresh `sdk-<uuid>` (kept across its retries). */
    idempotencyKey?: string;
}
export interface UploadOptions {
    /** Called as chunks go out: `(sentBytes, totalBytes)`; in a browser, once at the start and once at the end. */
    onProgress?: Progress;
    filename?: string;
    contentType?: string;
}
export interface WaitOptions {
    /** Seconds before `WaitTimeoutError` (600). */
    timeoutS?: number;
    /** The longest poll interval when the server has no event stream (5). */
    pollMaxS?: number;
}
export interface ListOptions {
    status?: T.Status;
    kind?: string;
    limit?: number;
    cursor?: string;
}
interface CallOptions {
    path?: Record<string, string>;
    params?: Record<string, string | number | null | undefined>;
    body?: unknown;
    idempotencyKey?: string;
}
declare class Resource {
    protected readonly client: Client;
    constructor(client: Client);
    protected create<R>(name: RouteName, body: unknown, options?: CreateOptions): Promise<R>;
}
export type EditKind = "audio" | "background" | "captions" | "composite" | "lipsync" | "reframe" | "subtitles" | "thumbnails" | "transcode" | "trim";
export type EditRequests = {
    audio: T.AudioRequest;
    background: T.BackgroundRequest;
    captions: T.CaptionsRequest;
    composite: T.CompositeRequest;
    lipsync: T.LipsyncRequest;
    reframe: T.ReframeRequest;
    subtitles: T.SubtitlesRequest;
    thumbnails: T.ThumbnailsRequest;
    transcode: T.TranscodeRequest;
    trim: T.TrimRequest;
};
/** `POST /v1/video/edit/{kind}`: each returns the queued task (202); `estimate` prices one first. */
export declare class Edit extends Resource {
    /** Music, ducking, text-to-speech narration, loudness normalisation. */
    audio(request: T.AudioRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Replace a video's background (chroma key, people or a prompted object) or make it transparent. */
    background(request: T.BackgroundRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Transcribe the speech and burn it in as captions (word highlight, karaoke) or add a soft track. */
    captions(request: T.CaptionsRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Compose clips, images, colours, text and audio on tracks, with transitions. */
    composite(request: T.CompositeRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Crop to another aspect (9:16...) with a virtual camera that follows the subject. */
    lipsync(request: T.LipsyncRequest, options?: CreateOptions): Promise<T.TaskOut>;
    reframe(request: T.ReframeRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Burn in subtitles (SRT, WebVTT or segments) or add them as a soft track. */
    subtitles(request: T.SubtitlesRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Poster frame, contact sheet, or frames at given times. */
    thumbnails(request: T.ThumbnailsRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Resize, change fps, re-encode to MP4, WebM, MOV (H.264, HEVC, AV1, VP9, ProRes), GIF or an HLS ladder. */
    transcode(request: T.TranscodeRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Cut ranges out of a video. */
    trim(request: T.TrimRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Cost and ETA of an edit (`kind` as in the route: `trim`, `composite`...), without creating a task. */
    estimate<K extends EditKind>(kind: K, request: EditRequests[K]): Promise<T.EstimateOut>;
}
/** `POST /v1/video/analyze/{kind}`: tasks whose result describes the input (and may cut it). */
export declare class Analyze extends Resource {
    /** Shot boundaries, a thumbnail per scene, optionally each scene as a clip. */
    scenes(request: T.ScenesRequest, options?: CreateOptions): Promise<T.TaskOut>;
    estimate(kind: "scenes", request: T.ScenesRequest): Promise<T.EstimateOut>;
}
export type GenerateKind = "text-to-video" | "image-to-video" | "style-transfer";
export type GenerateRequests = {
    "text-to-video": T.TextToVideoRequest;
    "image-to-video": T.ImageToVideoRequest;
    "style-transfer": T.StyleTransferRequest;
};
/** `POST /v1/video/generate/{kind}`. */
export declare class Generate extends Resource {
    textToVideo(request: T.TextToVideoRequest, options?: CreateOptions): Promise<T.TaskOut>;
    imageToVideo(request: T.ImageToVideoRequest, options?: CreateOptions): Promise<T.TaskOut>;
    styleTransfer(request: T.StyleTransferRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /** Cost and ETA of a generation (`kind`: `text-to-video`, `image-to-video`, `style-transfer`). */
    estimate<K extends GenerateKind>(kind: K, request: GenerateRequests[K]): Promise<T.EstimateOut>;
    /** The installed models and the classical styles. */
    models(): Promise<T.ModelList>;
}
/** Many creates in one call: all validated first, created together (all or nothing). */
export declare class Batch extends Resource {
    edit(items: T.BatchItem[], options?: CreateOptions): Promise<T.BatchOut>;
    generate(items: T.BatchItem[], options?: CreateOptions): Promise<T.BatchOut>;
}
export declare class Tasks extends Resource {
    get(taskId: string): Promise<T.TaskOut>;
    /** One page, newest first; `next_cursor` fetches the next (or use `iterate`). */
    list(options?: ListOptions): Promise<T.TaskPage>;
    /** Every task that matches, page after page: `for await (const task of client.tasks.iterate({kind}))`. */
    iterate(options?: {
        status?: T.Status;
        kind?: string;
        pageSize?: number;
    }): AsyncGenerator<T.TaskOut>;
    cancel(taskId: string): Promise<T.TaskOut>;
}
/** Steps of any task kind run as a graph; `{ step: "<id>" }` in a step's params reads an earlier output. */
export declare class Pipelines {
    protected readonly client: Client;
    constructor(client: Client);
    /** Validate every step and create them all (202); `fields`: `priority`, `webhook_url`, `destinations`. */
    create(steps: T.StepIn[], fields?: Omit<T.PipelineIn, "steps">, options?: CreateOptions): Promise<T.PipelineOut>;
    get(pipelineId: string): Promise<T.PipelineOut>;
    /** One page, newest first; `next_cursor` fetches the next. */
    list(options?: {
        limit?: number;
        cursor?: string;
    }): Promise<T.PipelinePage>;
    cancel(pipelineId: string): Promise<T.PipelineOut>;
    /** Run the failed and canceled steps again, and the steps that read them. */
    retry(pipelineId: string): Promise<T.PipelineOut>;
}
export declare class Assets extends Resource {
    /** Fetch and probe a media URL now, and keep it as an asset. */
    registerUrl(url: string): Promise<T.AssetOut>;
    /** Metadata and a fresh signed download URL. */
    get(assetId: string): Promise<T.AssetOut>;
    delete(assetId: string): Promise<void>;
}
export declare class Webhooks extends Resource {
    /** The task's webhook deliveries with every attempt. */
    deliveries(taskId: string): Promise<T.WebhookLog>;
    redeliver(taskId: string): Promise<T.DeliveryOut>;
    /** The `whsec_...` secrets that sign the caller's webhooks (for `verifyWebhook`). */
    secrets(): Promise<T.WebhookSecrets>;
}
/**
 * The videoapi client. `new Client({ baseUrl, apiKey })`; every method returns a promise of the
 * answer's type, and a non-2xx answer rejects with the `ApiError` subclass of its status.
 */
export declare class Client {
    #private;
    readonly baseUrl: string;
    readonly maxRetries: number;
    readonly maxRetryWaitS: number;
    readonly timeoutS: number;
    readonly headers: Record<string, string>;
    /** Whether the server has the task event stream: null until `wait` has asked. */
    eventsSupported: boolean | null;
    readonly edit: Edit;
    readonly generate: Generate;
    readonly analyze: Analyze;
    readonly batch: Batch;
    readonly tasks: Tasks;
    readonly pipelines: Pipelines;
    readonly assets: Assets;
    readonly webhooks: Webhooks;
    constructor(options?: ClientOptions);
    /** Call a route of `ROUTES` by name: the building block of every method. */
    call<R>(name: RouteName, options?: CallOptions): Promise<R>;
    /**
     * Upload a media file: a path (Node), a `Blob`/`File`, bytes, or a stream. In Node the body is
     * streamed in 1 MiB chunks and `onProgress(sent, total)` runs after each. The file is probed by
     * the server; an unusable one rejects with an `UnprocessableEntityError` whose `code` says why.
     */
    upload(source: UploadSource, options?: UploadOptions): Promise<T.AssetOut>;
    /**
     * GET a signed output or asset URL. The API key goes only to the API's own origin: a presigned
     * S3 URL refuses a second credential, and another host has no business seeing the key. With
     * `dest` (Node) the body is streamed to that file; without, the `Response` is returned.
     */
    download(url: string): Promise<Response>;
    download(url: string, dest: string): Promise<string>;
    /** Credits by day and kind since `since` (YYYY-MM-DD; the start of the month by default). */
    usage(since?: string): Promise<T.UsageOut>;
    /** Speech to text with word timings (`POST /v1/video/transcribe`); the result has SRT/WebVTT/JSON outputs. */
    transcribe(request: T.TranscribeRequest, options?: CreateOptions): Promise<T.TaskOut>;
    /**
     * The task once it is succeeded, failed or canceled; rejects with `WaitTimeoutError` after `timeoutS`.
     *
     * Over the task's event stream (`GET /v1/video/tasks/{id}/events`) when the server has one,
     * resumed with `Last-Event-ID` when it drops; else by polling with backoff (0.25 s, growing by
     * half to `pollMaxS`). A failed task is returned, not thrown: look at `status` and `error.code`.
     */
    wait(taskId: string, options?: WaitOptions): Promise<T.TaskOut>;
}
export {};
