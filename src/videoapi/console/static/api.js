// The API from the browser: the signed-in key (sessionStorage, never a URL), JSON calls, uploads
// with progress, and the owner's live event stream opened with a short-lived stream token.

const KEY_SLOT = "videoapi.console.key";
const ASSETS_SLOT = "videoapi.console.assets";

export const session = {
  get key() { return sessionStorage.getItem(KEY_SLOT); },
  signIn(key) { sessionStorage.setItem(KEY_SLOT, key); },
  signOut() { sessionStorage.removeItem(KEY_SLOT); sessionStorage.removeItem(ASSETS_SLOT); },
};

/** Assets uploaded in this tab, newest first (ids and names only), so the forms can offer them. */
export const recentAssets = {
  list() { try { return JSON.parse(sessionStorage.getItem(ASSETS_SLOT) || "[]"); } catch { return []; } },
  add(asset) {
    const item = { id: asset.id, name: asset.filename || asset.id, duration_s: asset.media?.duration_s ?? null };
    const items = [item, ...this.list().filter((a) => a.id !== asset.id)].slice(0, 20);
    sessionStorage.setItem(ASSETS_SLOT, JSON.stringify(items));
  },
};

/** A problem+json answer (RFC 9457) or a network failure, with the fields it names. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || null;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

function authHeaders() {
  return session.key ? { Authorization: `Bearer ${session.key}` } : {};
}

export async function call(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...authHeaders(), ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { detail: `network error: ${err.message}` });
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** POST a file to /v1/video/assets; `onProgress(fraction)` follows the bytes sent. */
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/video/assets");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = { detail: xhr.responseText.slice(0, 200) }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: "network error during upload" })));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/**
 * Follow every task of the signed-in key. `handlers.change(change)` gets status and progress changes,
 * `handlers.task(task)` each finished task, `handlers.reconnected()` a new connection (changes may
 * have been missed: re-read). EventSource cannot send a header, so a stream token goes in the URL;
 * it expires, so each reconnect fetches a new one. Returns a function that closes the stream.
 */
export function followEvents(handlers) {
  let source = null;
  let closed = false;
  let retryMs = 1000;
  let timer = null;

  async function connect() {
    if (closed) return;
    let token;
    try {
      ({ token } = await call("/v1/video/events/token", { method: "POST" }));
    } catch {
      timer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
      return;
    }
    if (closed) return;
    source = new EventSource(`/v1/video/events?token=${encodeURIComponent(token)}`);
    source.addEventListener("open", () => { retryMs = 1000; handlers.reconnected?.(); });
    for (const name of ["status", "progress"]) {
      source.addEventListener(name, (e) => handlers.change?.(JSON.parse(e.data)));
    }
    source.addEventListener("task", (e) => handlers.task?.(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      // The browser would retry with the same (perhaps expired) token: reconnect with a fresh one.
      source.close();
      source = null;
      timer = setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
  }

  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    source?.close();
  };
}
