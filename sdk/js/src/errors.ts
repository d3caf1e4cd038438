/** Typed errors: one `ApiError` subclass per status, each carrying the problem body's stable `code`. */

/** Base of every error this package throws. */
export class VideoApiError extends Error {
  override name = "VideoApiError";
}

/** One per-field error of a problem: `{field: "end_s", message: "...", source: "body"}`. */
export interface FieldError {
  field?: string;
  message?: string;
  source?: string;
  [key: string]: unknown;
}

/** The server answered with an RFC 9457 problem (or another non-2xx answer). */
export class ApiError extends VideoApiError {
  override name = "ApiError";
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

  constructor(status: number, code: string, title: string, detail: string, errors: FieldError[] = [], headers: Headers = new Headers()) {
    super(`${status} ${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
    this.headers = headers;
  }
}

export class BadRequestError extends ApiError { override name = "BadRequestError"; }
export class AuthenticationError extends ApiError { override name = "AuthenticationError"; }
export class PermissionDeniedError extends ApiError { override name = "PermissionDeniedError"; }
export class NotFoundError extends ApiError { override name = "NotFoundError"; }
export class ConflictError extends ApiError { override name = "ConflictError"; }
export class GoneError extends ApiError { override name = "GoneError"; }
export class PayloadTooLargeError extends ApiError { override name = "PayloadTooLargeError"; }
export class UnprocessableEntityError extends ApiError { override name = "UnprocessableEntityError"; }
export class RateLimitedError extends ApiError { override name = "RateLimitedError"; }
export class ServerError extends ApiError { override name = "ServerError"; }
export class ServiceUnavailableError extends ServerError { override name = "ServiceUnavailableError"; }

const BY_STATUS: Record<number, typeof ApiError> = {
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
  override name = "WaitTimeoutError";
  readonly task: unknown;
  constructor(taskId: string, timeoutS: number, task: unknown) {
    super(`task ${taskId} not finished after ${timeoutS} s`);
    this.task = task;
  }
}

/** A webhook request is not signed by any of the given secrets, or its timestamp is out of range. */
export class WebhookVerificationError extends VideoApiError {
  override name = "WebhookVerificationError";
}

/** The typed error of a non-2xx answer (its body is read); a body that is no problem still gives its status. */
export async function errorFor(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  let problem: { code?: unknown; title?: unknown; detail?: unknown; errors?: unknown } | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) problem = parsed;
  } catch {
    problem = null;
  }
  const status = response.status;
  const cls = BY_STATUS[status] ?? (status >= 500 ? ServerError : ApiError);
  if (problem === null) {
    return new cls(status, `http_${status}`, response.statusText, text, [], response.headers);
  }
  return new cls(
    status,
    typeof problem.code === "string" ? problem.code : "unknown",
    typeof problem.title === "string" ? problem.title : "",
    typeof problem.detail === "string" ? problem.detail : "",
    Array.isArray(problem.errors) ? (problem.errors as FieldError[]) : [],
    response.headers,
  );
}
