/** Typed errors: one `ApiError` subclass per status, each carrying the problem body's stable `code`. */
/** Base of every error this package throws. */
export declare class VideoApiError extends Error {
    name: string;
}
/** One per-field error of a problem: `{field: "end_s", message: "...", source: "body"}`. */
export interface FieldError {
    field?: string;
    message?: string;
    source?: string;
    [key: string]: unknown;
}
/** The server answered with an RFC 9457 problem (or another non-2xx answer). */
export declare class ApiError extends VideoApiError {
    name: string;
    /** The HTTP status. */
    readonly status: number;
    /** The problem's stable code (docs/errors.md), e.g. `input_unreadable`. */
    readonly code: string;
    readonly title: string;
    readonly detail: string;
    /** Per-field errors of a 4xx: which field, and why. */
    readonly errors: FieldError[];
    /** The answer's headers (`retry-after` on a 429...). */
    readonly headers: Headers;
    constructor(status: number, code: string, title: string, detail: string, errors?: FieldError[], headers?: Headers);
}
export declare class BadRequestError extends ApiError {
    name: string;
}
export declare class AuthenticationError extends ApiError {
    name: string;
}
export declare class PermissionDeniedError extends ApiError {
    name: string;
}
export declare class NotFoundError extends ApiError {
    name: string;
}
export declare class ConflictError extends ApiError {
    name: string;
}
export declare class GoneError extends ApiError {
    name: string;
}
export declare class PayloadTooLargeError extends ApiError {
    name: string;
}
export declare class UnprocessableEntityError extends ApiError {
    name: string;
}
export declare class RateLimitedError extends ApiError {
    name: string;
}
export declare class ServerError extends ApiError {
    name: string;
}
export declare class ServiceUnavailableError extends ServerError {
    name: string;
}
/** `wait` gave up before the task reached a terminal state; `task` is the last one seen. */
export declare class WaitTimeoutError extends VideoApiError {
    name: string;
    readonly task: unknown;
    constructor(taskId: string, timeoutS: number, task: unknown);
}
/** A webhook request is not signed by any of the given secrets, or its timestamp is out of range. */
export declare class WebhookVerificationError extends VideoApiError {
    name: string;
}
/** The typed error of a non-2xx answer (its body is read); a body that is no problem still gives its status. */
export declare function errorFor(response: Response): Promise<ApiError>;
