/** Typed errors: one `ApiError` subclass per status, each carrying the problem body's stable `code`. */
/** Base of every error this package throws. */
export class VideoApiError extends Error {
    name = "VideoApiError";
}
/** The server answered with an RFC 9457 problem (or another non-2xx answer). */
export class ApiError extends VideoApiError {
    name = "ApiError";
    /** The HTTP status. */
    status;
    /** The problem's stable code (docs/errors.md), e.g. `input_unreadable`. */
    code;
    title;
    detail;
    /** Per-field errors of a 4xx: which field, and why. */
    errors;
    /** The answer's headers (`retry-after` on a 429...). */
    headers;
    constructor(status, code, title, detail, errors = [], headers = new Headers()) {
        super(`${status} ${code}: ${detail}`);
        this.status = status;
        this.code = code;
        this.title = title;
        this.detail = detail;
        this.errors = errors;
        this.headers = headers;
    }
}
export class BadRequestError extends ApiError {
    name = "BadRequestError";
}
export class AuthenticationError extends ApiError {
    name = "AuthenticationError";
}
export class PermissionDeniedError extends ApiError {
    name = "PermissionDeniedError";
}
export class NotFoundError extends ApiError {
    name = "NotFoundError";
}
export class ConflictError extends ApiError {
    name = "ConflictError";
}
export class GoneError extends ApiError {
    name = "GoneError";
}
export class PayloadTooLargeError extends ApiError {
    name = "PayloadTooLargeError";
}
export class UnprocessableEntityError extends ApiError {
    name = "UnprocessableEntityError";
}
export class RateLimitedError extends ApiError {
    name = "RateLimitedError";
}
export class ServerError extends ApiError {
    name = "ServerError";
}
export class ServiceUnavailableError extends ServerError {
    name = "ServiceUnavailableError";
}
const BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: PayloadTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitedError,
    503: ServiceUnavailableError,
};
/** `wait` gave up before the task reached a terminal state; `task` is the last one seen. */
export class WaitTimeoutError extends VideoApiError {
    name = "WaitTimeoutError";
    task;
    constructor(taskId, timeoutS, task) {
        super(`task ${taskId} not finished after ${timeoutS} s`);
        this.task = task;
    }
}
/** A webhook request is not signed by any of the given secrets, or its timestamp is out of range. */
export class WebhookVerificationError extends VideoApiError {
    name = "WebhookVerificationError";
}
/** The typed error of a non-2xx answer (its body is read); a body that is no problem still gives its status. */
export async function errorFor(response) {
    const text = await response.text().catch(() => "");
    let problem = null;
    try {
        const parsed = JSON.parse(text);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
            problem = parsed;
    }
    catch {
        problem = null;
    }
    const status = response.status;
    const cls = BY_STATUS[status] ?? (status >= 500 ? ServerError : ApiError);
    if (problem === null) {
        return new cls(status, `http_${status}`, response.statusText, text, [], response.headers);
    }
    return new cls(status, typeof problem.code === "string" ? problem.code : "unknown", typeof problem.title === "string" ? problem.title : "", typeof problem.detail === "string" ? problem.detail : "", Array.isArray(problem.errors) ? problem.errors : [], response.headers);
}
