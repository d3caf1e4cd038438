/** The multipart/form-data body of an upload, read in 1 MiB chunks, rebuilt for each retry. */
export declare const UPLOAD_CHUNK_BYTES: number;
/** Upload progress: (bytes sent, total bytes or null when the size is unknown). */
export type Progress = (sentBytes: number, totalBytes: number | null) => void;
/**
 * What `upload` takes: a path (Node), a `Blob` or `File`, bytes, or a stream of bytes (a web
 * `ReadableStream` or any async iterable, such as a Node `Readable`; sent once, never retried).
 */
export type UploadSource = string | Blob | Uint8Array | ArrayBuffer | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;
/** Node, Deno and Bun send a `ReadableStream` request body; browsers only over HTTP/2, so they get a Blob. */
export declare function canStreamRequests(): boolean;
export interface UploadBody {
    body: BodyInit;
    headers: Record<string, string>;
    /** Streamed bodies need `duplex: "half"` in fetch. */
    streamed: boolean;
}
/** One upload: `body()` builds the request body again for each attempt. */
export declare class Upload {
    private readonly reader;
    readonly filename: string;
    readonly contentType: string;
    private readonly progress;
    private readonly boundary;
    private constructor();
    static open(source: UploadSource, filename: string | undefined, contentType: string, progress?: Progress): Promise<Upload>;
    get rewindable(): boolean;
    private head;
    private tail;
    body(stream?: boolean): Promise<UploadBody>;
    /** Progress at the end, for the Blob body (whose bytes fetch reads unobserved). */
    done(): void;
    close(): Promise<void>;
}
