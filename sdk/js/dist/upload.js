/** The multipart/form-data body of an upload, read in 1 MiB chunks, rebuilt for each retry. */
import { randomHex } from "./core.js";
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;
/** Node, Deno and Bun send a `ReadableStream` request body; browsers only over HTTP/2, so they get a Blob. */
export function canStreamRequests() {
    const proc = globalThis.process;
    return typeof proc?.versions?.node === "string";
}
function bytesReader(bytes) {
    return {
        size: bytes.byteLength,
        rewindable: true,
        async *chunks() {
            for (let at = 0; at < bytes.byteLength; at += UPLOAD_CHUNK_BYTES)
                yield bytes.subarray(at, at + UPLOAD_CHUNK_BYTES);
        },
        blob: async () => new Blob([bytes]),
        close: async () => { },
    };
}
function blobReader(blob) {
    return {
        size: blob.size,
        rewindable: true,
        async *chunks() {
            for (let at = 0; at < blob.size; at += UPLOAD_CHUNK_BYTES) {
                yield new Uint8Array(await blob.slice(at, at + UPLOAD_CHUNK_BYTES).arrayBuffer());
            }
        },
        blob: async () => blob,
        close: async () => { },
    };
}
async function pathReader(path) {
    const fs = await import("node:fs/promises");
    const handle = await fs.open(path, "r");
    const { size } = await handle.stat();
    return {
        size,
        rewindable: true,
        async *chunks() {
            let position = 0;
            for (;;) {
                const buffer = new Uint8Array(Math.min(UPLOAD_CHUNK_BYTES, Math.max(1, size - position)));
                const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position);
                if (bytesRead === 0)
                    return;
                position += bytesRead;
                yield buffer.subarray(0, bytesRead);
            }
        },
        close: () => handle.close(),
    };
}
function streamReader(source) {
    let used = false;
    return {
        size: null,
        rewindable: false,
        async *chunks() {
            if (used)
                throw new TypeError("a stream can be uploaded once");
            used = true;
            if (Symbol.asyncIterator in source) {
                for await (const chunk of source)
                    yield chunk;
                return;
            }
            const reader = source.getReader();
            for (;;) {
                const { value, done } = await reader.read();
                if (done)
                    return;
                yield value;
            }
        },
        close: async () => { },
    };
}
function baseName(path) {
    return path.split(/[\\/]/).pop() || "upload";
}
/** One upload: `body()` builds the request body again for each attempt. */
export class Upload {
    reader;
    filename;
    contentType;
    progress;
    boundary = randomHex();
    constructor(reader, filename, contentType, progress) {
        this.reader = reader;
        this.filename = filename;
        this.contentType = contentType;
        this.progress = progress;
    }
    static async open(source, filename, contentType, progress) {
        let reader;
        let name = filename;
        if (typeof source === "string") {
            reader = await pathReader(source);
            name ??= baseName(source);
        }
        else if (source instanceof Blob) {
            reader = blobReader(source);
            name ??= source.name || "upload";
        }
        else if (source instanceof Uint8Array) {
            reader = bytesReader(source);
        }
        else if (source instanceof ArrayBuffer) {
            reader = bytesReader(new Uint8Array(source));
        }
        else {
            reader = streamReader(source);
        }
        return new Upload(reader, name ?? "upload", contentType, progress);
    }
    get rewindable() {
        return this.reader.rewindable;
    }
    head() {
        const safe = this.filename.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replace(/[\r\n]/g, "");
        return new TextEncoder().encode(`--${this.boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safe}"\r\n` +
            `Content-Type: ${this.contentType}\r\n\r\n`);
    }
    tail() {
        return new TextEncoder().encode(`\r\n--${this.boundary}--\r\n`);
    }
    async body(stream = canStreamRequests()) {
        const head = this.head();
        const tail = this.tail();
        const headers = { "content-type": `multipart/form-data; boundary=${this.boundary}` };
        const total = this.reader.size;
        if (!stream && this.reader.blob) {
            // A browser: fetch reads the Blob from disk itself, and reports no progress; the end is the one we see.
            const body = new Blob([head, await this.reader.blob(), tail]);
            this.progress?.(0, total);
            return { body, headers, streamed: false };
        }
        if (total !== null)
            headers["content-length"] = String(head.byteLength + total + tail.byteLength);
        const chunks = this.reader.chunks();
        const progress = this.progress;
        let sent = 0;
        let stage = "head";
        const body = new ReadableStream({
            async pull(controller) {
                if (stage === "head") {
                    stage = "file";
                    controller.enqueue(head);
                    return;
                }
                if (stage === "done")
                    return;
                const next = await chunks.next();
                if (next.done) {
                    stage = "done";
                    controller.enqueue(tail);
                    controller.close();
                    return;
                }
                sent += next.value.byteLength;
                controller.enqueue(next.value);
                progress?.(sent, total);
            },
            async cancel() {
                await chunks.return(undefined);
            },
        });
        return { body, headers, streamed: true };
    }
    /** Progress at the end, for the Blob body (whose bytes fetch reads unobserved). */
    done() {
        if (this.reader.size !== null)
            this.progress?.(this.reader.size, this.reader.size);
    }
    close() {
        return this.reader.close();
    }
}
