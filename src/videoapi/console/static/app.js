// The console: hash routes (#/tasks, #/tasks/ID, #/upload, #/edit/KIND, #/timeline, #/admin), each a
// view that renders into <main> and may follow the live event stream while it is shown.
import { ApiError, call, followEvents, recentAssets, session, upload } from "./api.js";
import { byDay, usageChart } from "./chart.js";
import { announce, field, formatTime, h, problemList, select } from "./dom.js";
import { SchemaValidator } from "./schema.js";

const main = document.getElementById("main");
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const STATUSES = ["queued", "running", "succeeded", "failed", "canceled"];
const KINDS = [
  "edit.trim", "edit.transcode", "edit.captions", "edit.subtitles", "edit.thumbnails", "edit.composite", "edit.audio",
  "edit.background", "edit.reframe", "edit.lipsync", "generate.text-to-video", "generate.image-to-video", "generate.style-transfer",
];

let openapi = null; // the served OpenAPI document, read once after sign-in
let isAdmin = false;
const listeners = new Set(); // the current view's event handlers
let stopEvents = null;

function schemaOf(name) {
  return openapi?.components?.schemas?.[name] || {};
}

function requestSchema(path) {
  const ref = openapi?.paths?.[path]?.post?.requestBody?.content?.["application/json"]?.schema;
  return ref ? validator().resolve(ref.$ref) : null;
}

let validatorInstance = null;
function validator() {
  validatorInstance ||= new SchemaValidator(openapi);
  return validatorInstance;
}

function enumOf(schemaName, prop) {
  const p = schemaOf(schemaName).properties?.[prop] || {};
  return p.enum || (p.oneOf || []).flatMap((o) => o.enum || []);
}

// ---- live events ------------------------------------------------------------------------------

function startEvents() {
  stopEvents?.();
  stopEvents = followEvents({
    change: (c) => listeners.forEach((l) => l.change?.(c)),
    task: (t) => listeners.forEach((l) => l.task?.(t)),
    reconnected: () => listeners.forEach((l) => l.reconnected?.()),
  });
}

function listen(handlers) {
  listeners.add(handlers);
  return () => listeners.delete(handlers);
}

// ---- sign-in ------------------------------------------------------------------------------------

function signInView(message) {
  const key = h("input", { type: "password", name: "key", autocomplete: "off", required: true, spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" }, message || "");
  const form = h(
    "form",
    { "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    field("API key", key, "Kept in this tab only (sessionStorage) and sent as the Authorization header."),
    error,
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    session.signIn(key.value.trim());
    try {
      await enter();
      if (location.hash === "#/tasks") route();
      else location.hash = "#/tasks"; // the hashchange renders it
    } catch (err) {
      session.signOut();
      error.textContent = err.status === 401 ? "That key was refused: check it and try again." : err.message;
      key.focus();
    }
  });
  show("Sign in", form);
  key.focus();
}

async function enter() {
  await call("/v1/video/tasks?limit=1"); // the key works (401 otherwise)
  openapi ||= await call("/schema/openapi.json");
  try {
    await call("/v1/admin/keys");
    isAdmin = true;
  } catch (err) {
    if (err.status !== 403) throw err;
    isAdmin = false;
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("nav-admin").hidden = !isAdmin;
  startEvents();
}

function signOut() {
  stopEvents?.();
  stopEvents = null;
  session.signOut();
  isAdmin = false;
  document.getElementById("nav").hidden = true;
  location.hash = "";
  signInView("Signed out.");
}

// ---- tasks --------------------------------------------------------------------------------------

function statusCell(task) {
  return h("span", { class: `status status-${task.status}` }, task.status);
}

function progressBar(value, label) {
  return h("progress", { max: 1, value: value ?? 0, "aria-label": label }, `${Math.round((value ?? 0) * 100)}%`);
}

async function tasksView(params) {
  const status = select("status", [["", "any"], ...STATUSES], params.get("status"));
  const kind = select("kind", [["", "any"], ...KINDS], params.get("kind"));
  const filters = h(
    "form",
    { class: "row", "aria-label": "Filters" },
    field("Status", status),
    field("Kind", kind),
  );
  const onFilter = () => {
    const q = new URLSearchParams();
    if (status.value) q.set("status", status.value);
    if (kind.value) q.set("kind", kind.value);
    location.hash = `#/tasks${q.size ? `?${q}` : ""}`;
  };
  status.addEventListener("change", onFilter);
  kind.addEventListener("change", onFilter);
  filters.addEventListener("submit", (e) => e.preventDefault());

  const body = h("tbody");
  const table = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, "Your tasks, newest first"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Task"), h("th", { scope: "col" }, "Kind"), h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Progress"), h("th", { scope: "col", class: "optional" }, "Created"))),
      body,
    ),
  );
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const filtered = params.get("status") || params.get("kind");
  const empty = filtered
    ? h("p", { hidden: true }, "No tasks match these filters.")
    : h("p", { hidden: true }, "No tasks yet. ", h("a", { href: "#/upload" }, "Upload a video"), " to start.");
  show("Tasks", h("h1", {}, "Tasks"), filters, empty, table, h("div", { class: "actions" }, more));

  const rows = new Map();
  let cursor = null;
  const matches = (t) => (!status.value || t.status === status.value) && (!kind.value || t.kind === kind.value);

  function row(task) {
    const tr = h(
      "tr",
      { dataset: { taskId: task.id } },
      h("td", { class: "id" }, h("a", { href: `#/tasks/${task.id}` }, task.id.slice(0, 8))),
      h("td", {}, task.kind),
      h("td", { class: "st" }, statusCell(task)),
      h("td", { class: "pg" }, progressBar(task.progress, `Progress of task ${task.id.slice(0, 8)}`)),
      h("td", { class: "optional" }, formatTime(task.created_at)),
    );
    rows.set(task.id, tr);
    return tr;
  }

  async function load(reset) {
    const q = new URLSearchParams({ limit: "20" });
    if (status.value) q.set("status", status.value);
    if (kind.value) q.set("kind", kind.value);
    if (!reset && cursor) q.set("cursor", cursor);
    const page = await call(`/v1/video/tasks?${q}`);
    if (reset) { body.replaceChildren(); rows.clear(); }
    body.append(...page.items.map(row));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = rows.size > 0;
  }
  more.addEventListener("click", () => load(false));

  let reloadTimer = null;
  const reloadSoon = () => { clearTimeout(reloadTimer); reloadTimer = setTimeout(() => load(true), 300); };
  const update = (id, status_, progress) => {
    const tr = rows.get(id);
    if (!tr) { reloadSoon(); return; } // a task this page has not shown yet
    tr.querySelector(".st").replaceChildren(statusCell({ status: status_ }));
    tr.querySelector("progress").value = progress ?? 0;
    if (TERMINAL.has(status_)) announce(`Task ${id.slice(0, 8)} ${status_}`);
  };
  const stop = listen({
    change: (c) => update(c.task_id, c.status, c.progress),
    task: (t) => (matches(t) ? update(t.id, t.status, t.progress) : rows.get(t.id) && reloadSoon()),
    reconnected: reloadSoon,
  });
  await load(true);
  return stop;
}

function isImage(result) {
  const type = result.content_type || "";
  return type.startsWith("image/") || /\.(jpe?g|png|webp)(\?|$)/i.test(result.url || "");
}

async function taskView(id) {
  const container = h("div");
  show(`Task ${id.slice(0, 8)}`, h("p", {}, h("a", { href: "#/tasks" }, "← All tasks")), container);

  async function render() {
    const task = await call(`/v1/video/tasks/${encodeURIComponent(id)}`);
    const parts = [h("h1", {}, `Task ${task.id}`)];
    const bar = progressBar(task.progress, "Progress");
    const state = h("span", { id: "task-status", class: `status status-${task.status}` }, task.status);
    parts.push(
      h("dl", { class: "facts" },
        h("dt", {}, "Kind"), h("dd", {}, task.kind),
        h("dt", {}, "Status"), h("dd", {}, state),
        h("dt", {}, "Progress"), h("dd", {}, bar),
        h("dt", {}, "Created"), h("dd", {}, formatTime(task.created_at)),
        h("dt", {}, "Finished"), h("dd", {}, formatTime(task.finished_at)),
        h("dt", {}, "Cost"), h("dd", {}, task.cost == null ? "—" : `${task.cost} credits`)),
    );
    if (!TERMINAL.has(task.status)) {
      const cancel = h("button", { type: "button", class: "danger" }, "Cancel task");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try { await call(`/v1/video/tasks/${task.id}/cancel`, { method: "POST" }); announce("Cancel requested"); }
        catch (err) { cancel.after(problemList(err)); }
      });
      parts.push(h("div", { class: "actions" }, cancel));
    }
    if (task.error) {
      parts.push(h("h2", {}, "Error"), h("p", { class: "error" }, `${task.error.code}: ${task.error.message}`));
    }
    const result = task.result;
    if (result?.url) {
      parts.push(h("h2", {}, "Output"));
      if (isImage(result)) {
        parts.push(h("img", { class: "output", src: result.url, alt: `Output image of task ${task.id}` }));
      } else {
        parts.push(h("video", {
          id: "output", controls: true, preload: "auto", playsinline: true, src: result.url,
          poster: result.poster_url || undefined, "aria-label": `Output video of task ${task.id}`,
        }));
      }
      parts.push(h("p", {}, h("a", { href: result.url, download: "" }, "Download the output")));
      if (result.poster_url) {
        parts.push(h("h2", {}, "Poster"), h("img", { class: "output", src: result.poster_url, alt: `Poster of task ${task.id}` }));
      }
    }
    parts.push(h("h2", {}, "Parameters"), h("pre", {}, JSON.stringify(task.params, null, 2)));
    if (result) parts.push(h("h2", {}, "Result"), h("pre", {}, JSON.stringify(result, null, 2)));
    parts.push(await webhooksPanel(task));
    container.replaceChildren(...parts);
    return { bar, state };
  }

  let live = await render();
  return listen({
    change: (c) => {
      if (c.task_id !== id) return;
      live.bar.value = c.progress ?? 0;
      live.state.textContent = c.status;
    },
    task: async (t) => {
      if (t.id === id) { live = await render(); announce(`Task ${t.status}`); }
    },
  });
}

async function webhooksPanel(task) {
  const panel = h("section", { "aria-labelledby": "hooks-title" }, h("h2", { id: "hooks-title" }, "Webhook deliveries"));
  if (!task.webhook_url) {
    panel.append(h("p", {}, "This task has no webhook_url."));
    return panel;
  }
  let log;
  try {
    log = await call(`/v1/video/tasks/${task.id}/webhooks`);
  } catch (err) {
    panel.append(problemList(err));
    return panel;
  }
  if (!log.items.length) panel.append(h("p", {}, "No delivery yet: one is made when the task ends."));
  for (const d of log.items) {
    panel.append(
      h("p", {}, `${d.event_type} to ${d.url}: `, h("strong", {}, d.status), d.next_attempt_at ? ` (next attempt ${formatTime(d.next_attempt_at)})` : ""),
      h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, ["Attempt", "At", "Status code", "Latency", "Error"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, d.attempts.map((a) => h("tr", {},
          h("td", {}, a.attempt), h("td", {}, formatTime(a.attempted_at)), h("td", {}, a.status_code ?? "—"),
          h("td", {}, a.latency_ms == null ? "—" : `${a.latency_ms} ms`), h("td", {}, a.error ?? "—")))))),
    );
  }
  const redeliver = h("button", { type: "button", class: "secondary", disabled: !TERMINAL.has(task.status) }, "Redeliver webhook");
  const note = h("span", { role: "status" });
  redeliver.addEventListener("click", async () => {
    redeliver.disabled = true;
    try {
      await call(`/v1/video/tasks/${task.id}/webhooks/redeliver`, { method: "POST" });
      note.textContent = "Redelivery queued (same webhook-id).";
    } catch (err) {
      note.textContent = err.message;
    } finally {
      redeliver.disabled = false;
    }
  });
  panel.append(h("div", { class: "actions" }, redeliver, note));
  return panel;
}

// ---- upload ---------------------------------------------------------------------------------------

function uploadView() {
  const file = h("input", { type: "file", name: "file", accept: "video/*,audio/*,image/*", required: true });
  const bar = h("progress", { id: "upload-progress", max: 1, value: 0, "aria-label": "Upload progress" });
  const percent = h("span", { "aria-hidden": "true" }, "0%");
  const outcome = h("div", { role: "status" });
  const button = h("button", { type: "submit" }, "Upload");
  const form = h("form", {}, field("Video, audio or image file", file), h("div", { class: "field" }, bar, percent), button, outcome);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!file.files.length) return;
    button.disabled = true;
    outcome.replaceChildren("Uploading…");
    try {
      const asset = await upload(file.files[0], (f) => {
        bar.value = f;
        percent.textContent = `${Math.round(f * 100)}%`;
      });
      recentAssets.add(asset);
      outcome.replaceChildren(
        h("p", { class: "ok" }, `Uploaded: asset ${asset.id}`),
        h("p", { class: "actions" }, "Use it: ",
          ["trim", "transcode", "captions", "subtitles", "thumbnails"].map((k) => h("a", { href: `#/edit/${k}?asset=${asset.id}` }, k))),
      );
      announce("Upload finished");
    } catch (err) {
      outcome.replaceChildren(h("p", { class: "error" }, "Upload failed"), problemList(err));
    } finally {
      button.disabled = false;
    }
  });
  show("Upload", h("h1", {}, "Upload"), form, recentList());
}

function recentList() {
  const items = recentAssets.list();
  if (!items.length) return "";
  return h("section", {}, h("h2", {}, "Uploaded in this tab"),
    h("ul", {}, items.map((a) => h("li", {}, `${a.name} — `, h("span", { class: "id" }, a.id)))));
}

// ---- edit forms -----------------------------------------------------------------------------------

function numberInput(name, attrs = {}) {
  return h("input", { type: "number", name, inputmode: "decimal", step: "any", ...attrs });
}

const FORMS = {
  trim: {
    title: "Trim", schema: "TrimRequest",
    fields: () => [
      ["Start (seconds)", numberInput("start_s", { min: 0, value: 0 })],
      ["End (seconds)", numberInput("end_s", { min: 0, value: 1 })],
      ["Mode", select("mode", enumOf("TrimRequest", "mode"), "accurate"), "accurate: frame-exact; fast: stream copy from the keyframe"],
      ["Format", select("format", enumOf("TrimRequest", "format"), "mp4")],
    ],
  },
  transcode: {
    title: "Transcode", schema: "TranscodeRequest",
    fields: () => [
      ["Resolution", select("resolution", [["", "keep"], ...enumOf("TranscodeRequest", "resolution").filter(Boolean)], ""), "the short side of the frame"],
      ["Width (pixels)", numberInput("width", { min: 16, step: 2 })],
      ["Height (pixels)", numberInput("height", { min: 16, step: 2 })],
      ["Frames per second", numberInput("fps", { min: 1, max: 120 })],
      ["Format", select("format", enumOf("TranscodeRequest", "format"), "mp4")],
      ["Quality", select("quality", enumOf("TranscodeRequest", "quality"), "medium")],
    ],
  },
  captions: {
    title: "Captions", schema: "CaptionsRequest",
    fields: () => [
      ["Mode", select("mode", enumOf("CaptionsRequest", "mode"), "burn"), "burn: drawn into the picture; soft: a subtitle track"],
      ["Language", h("input", { name: "language", value: "auto", autocomplete: "off" }), "auto, or the ISO 639-1 code of the speech (en, zh, ...)"],
      ["Highlight", select("style.highlight", enumOf("CaptionStyle", "highlight"), "none"), "word: the spoken word in colour; karaoke: each word fills as it is spoken (burn only)"],
      ["Words per caption", numberInput("style.words_per_caption", { min: 1, max: 3, step: 1 }), "1 to 3 for short-video captions; empty: whole phrases"],
      ["Format", select("format", enumOf("CaptionsRequest", "format"), "mp4")],
    ],
  },
  subtitles: {
    title: "Subtitles", schema: "SubtitlesRequest",
    fields: () => [
      ["Subtitles (SRT)", h("textarea", { name: "srt" }, "1\n00:00:00,000 --> 00:00:01,000\nHello\n"), "SubRip text; each cue a number, a time range and its lines"],
      ["Mode", select("mode", enumOf("SubtitlesRequest", "mode"), "burn"), "burn: drawn into the picture; soft: a subtitle track"],
      ["Format", select("format", enumOf("SubtitlesRequest", "format"), "mp4")],
    ],
  },
  thumbnails: {
    title: "Thumbnails", schema: "ThumbnailsRequest",
    fields: () => [
      ["Mode", select("mode", enumOf("ThumbnailsRequest", "mode"), "poster")],
      ["Time (seconds)", numberInput("time_s", { min: 0 }), "poster: the frame at this time (default: the most representative)"],
      ["Count", numberInput("count", { min: 1, step: 1 }), "frames: this many images, evenly spaced"],
      ["Image format", select("format", enumOf("ThumbnailsRequest", "format"), "jpeg")],
    ],
  },
};

function assetPicker(value) {
  const recent = recentAssets.list();
  const input = h("input", { name: "asset_id", required: true, list: "recent-assets", value: value || recent[0]?.id || "", autocomplete: "off", spellcheck: "false" });
  const list = h("datalist", { id: "recent-assets" }, recent.map((a) => h("option", { value: a.id }, a.name)));
  return [input, list];
}

/** The request body a form describes: empty fields left out, numbers as numbers. */
function bodyOf(form, spec) {
  const props = schemaOf(spec.schema).properties || {};
  const body = { input: { asset_id: form.elements.asset_id.value.trim() } };
  for (const el of form.elements) {
    if (!el.name || el.name === "asset_id" || el.value === "") continue;
    const value = el.type === "number" ? Number(el.value) : el.value;
    // `style.highlight`: a field of a nested object of the request.
    const [head, leaf] = el.name.split(".", 2);
    if (leaf) (body[head] ||= {})[leaf] = value; else body[head] = value;
  }
  const webhook = form.elements.webhook_url?.value.trim();
  if (webhook && props.webhook_url) body.webhook_url = webhook; else delete body.webhook_url;
  return body;
}

function estimateLine(est) {
  const credits = `${est.estimate_credits} credits`;
  const eta = `about ${Math.max(1, Math.round(est.eta_s))} s`;
  return `Estimate: ${credits}, done in ${eta} (${est.tasks_ahead} task(s) ahead on the ${est.queue} queue)`;
}

/** Live estimate and submit for a request `build()` returns; `problems(body)` are client-side errors. */
function wireSubmit(form, path, build, problems, estimateBox, errorBox, button) {
  let timer = null;
  let seq = 0;
  async function estimate() {
    const mine = ++seq;
    let body;
    try { body = build(); } catch (err) { estimateBox.textContent = ""; errorBox.replaceChildren(h("p", { class: "error" }, err.message)); button.disabled = true; return; }
    const local = problems(body);
    if (local.length) {
      estimateBox.textContent = "";
      errorBox.replaceChildren(h("ul", { class: "problems" }, local.map((e) => h("li", {}, `${e.path}: ${e.message}`))));
      button.disabled = true;
      return;
    }
    try {
      const est = await call(`${path}/estimate`, { method: "POST", body });
      if (mine !== seq) return;
      estimateBox.textContent = estimateLine(est);
      errorBox.replaceChildren();
      button.disabled = false;
    } catch (err) {
      if (mine !== seq) return;
      estimateBox.textContent = "";
      errorBox.replaceChildren(problemList(err));
      button.disabled = true;
    }
  }
  const soon = () => { clearTimeout(timer); timer = setTimeout(estimate, 300); };
  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    try {
      const task = await call(path, { method: "POST", body: build() });
      announce(`Task ${task.id.slice(0, 8)} created`);
      location.hash = `#/tasks/${task.id}`;
    } catch (err) {
      errorBox.replaceChildren(problemList(err));
      button.disabled = false;
    }
  });
  estimate();
}

function editView(kind, params) {
  const spec = FORMS[kind];
  if (!spec) return notFound();
  const path = `/v1/video/edit/${kind}`;
  const [assetInput, datalist] = assetPicker(params.get("asset"));
  const estimateBox = h("p", { class: "estimate", role: "status", "aria-live": "polite" });
  const errorBox = h("div", { role: "alert" });
  const button = h("button", { type: "submit", disabled: true }, `Submit ${spec.title.toLowerCase()}`);
  const form = h(
    "form",
    { "aria-labelledby": "form-title", novalidate: true },
    field("Asset id", assetInput, "An uploaded asset (this tab's uploads are suggested)"),
    datalist,
    h("div", { class: "row" }, spec.fields().map(([label, control, hint]) => field(label, control, hint))),
    field("Webhook URL (optional)", h("input", { type: "url", name: "webhook_url", autocomplete: "off" })),
    estimateBox,
    errorBox,
    h("div", { class: "actions" }, button),
  );
  const schema = requestSchema(path);
  wireSubmit(form, path, () => bodyOf(form, spec), (body) => (schema ? validator().validate(body, schema) : []), estimateBox, errorBox, button);
  show(spec.title, h("h1", { id: "form-title" }, spec.title), form);
}

const TIMELINE_EXAMPLE = {
  timeline: {
    tracks: [
      { clips: [{ type: "color", color: "#203060", duration_s: 2 }, { type: "text", text: "Hello", duration_s: 2 }] },
    ],
  },
  output: { format: "mp4", resolution: "480p" },
};

function timelineView() {
  const path = "/v1/video/edit/composite";
  const editor = h("textarea", { class: "json", name: "request", spellcheck: "false" }, JSON.stringify(TIMELINE_EXAMPLE, null, 2));
  const estimateBox = h("p", { class: "estimate", role: "status", "aria-live": "polite" });
  const errorBox = h("div", { role: "alert", id: "timeline-errors" });
  const button = h("button", { type: "submit", disabled: true }, "Submit composite");
  const form = h(
    "form",
    { "aria-labelledby": "form-title" },
    field("Composite request (JSON)", editor, "Checked as you type against the CompositeRequest schema this server publishes at /schema/openapi.json"),
    estimateBox,
    errorBox,
    h("div", { class: "actions" }, button),
  );
  const schema = requestSchema(path);
  const build = () => {
    try { return JSON.parse(editor.value); } catch (err) { throw new Error(`Not valid JSON: ${err.message}`); }
  };
  wireSubmit(form, path, build, (body) => validator().validate(body, schema), estimateBox, errorBox, button);
  show("Timeline", h("h1", { id: "form-title" }, "Timeline editor"), form);
}

// ---- admin ----------------------------------------------------------------------------------------

async function adminView() {
  if (!isAdmin) return show("Admin", h("h1", {}, "Admin"), h("p", {}, "This key has no admin scope."));
  const keysBox = h("div");
  const created = h("div", { role: "status" });
  const name = h("input", { name: "name", required: true, maxlength: 128 });
  const credits = numberInput("monthly_credits", { min: 0 });
  const scopes = ["generate", "edit", "read", "admin"].map((s) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "scope", value: s, checked: s !== "admin" }), ` ${s}`));
  const form = h(
    "form",
    { "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "Create a key"),
    h("div", { class: "row" }, field("Name", name), field("Monthly credits (optional)", credits)),
    h("fieldset", {}, h("legend", {}, "Scopes"), h("div", { class: "actions" }, scopes)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create key")),
    created,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), scopes: [...form.querySelectorAll("input[name=scope]:checked")].map((c) => c.value) };
    if (credits.value !== "") body.monthly_credits = Number(credits.value);
    try {
      const key = await call("/v1/admin/keys", { method: "POST", body });
      created.replaceChildren(
        h("p", { class: "ok" }, `Key ${key.name} created. Copy it now: it is not shown again.`),
        h("p", { class: "secret" }, key.api_key),
        h("p", {}, "Webhook secret: ", h("span", { class: "secret" }, key.webhook_secret)),
      );
      await renderKeys();
    } catch (err) {
      created.replaceChildren(problemList(err));
    }
  });
  const usageBox = h("div");
  show("Admin", h("h1", {}, "Admin"), form, h("h2", {}, "Keys"), keysBox, h("h2", {}, "Usage by day (last 30 days)"), usageBox);

  const note = h("p", { role: "status" }); // outcome of the row actions; kept across re-renders
  async function renderKeys() {
    const { items } = await call("/v1/admin/keys");
    keysBox.replaceChildren(note, h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Prefix", "Scopes", "Quota (credits/month)", "Last used", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map((k) => keyRow(k, note))))));
  }

  function keyRow(k, note) {
    const quota = numberInput("quota", { min: 0, value: k.monthly_credits ?? "", "aria-label": `Monthly credits of ${k.name}`, placeholder: "none" });
    const act = async (fn) => { try { await fn(); } catch (err) { note.textContent = `${k.name}: ${err.message}`; } };
    const setQuota = h("button", { type: "button", class: "secondary" }, "Set quota");
    setQuota.addEventListener("click", () => act(async () => {
      await call(`/v1/admin/keys/${k.id}/quota`, { method: "PUT", body: { monthly_credits: quota.value === "" ? null : Number(quota.value) } });
      note.textContent = `${k.name}: quota ${quota.value === "" ? "removed" : `set to ${quota.value}`}`;
    }));
    const rotate = h("button", { type: "button", class: "secondary" }, "Rotate webhook secret");
    rotate.addEventListener("click", () => act(async () => {
      const { secrets } = await call(`/v1/admin/keys/${k.id}/webhook-secret`, { method: "POST", body: { keep_old_hours: 24 } });
      note.replaceChildren(`${k.name}: new webhook secret (the old one signs for 24 h more): `, h("span", { class: "secret" }, secrets[0]));
    }));
    const revoke = h("button", { type: "button", class: "danger", disabled: Boolean(k.revoked_at) }, k.revoked_at ? "Revoked" : "Revoke");
    revoke.addEventListener("click", () => act(async () => {
      if (!confirm(`Revoke the key ${k.name}? It stops working at once.`)) return;
      await call(`/v1/admin/keys/${k.id}/revoke`, { method: "POST" });
      await renderKeys();
      note.textContent = `${k.name} revoked`;
    }));
    return h("tr", {},
      h("td", {}, k.name), h("td", { class: "id" }, `vk_${k.prefix}_…`), h("td", {}, k.scopes.join(", ")),
      h("td", {}, quota), h("td", {}, formatTime(k.last_used_at)),
      h("td", {}, h("div", { class: "actions" }, setQuota, rotate, revoke)));
  }

  await renderKeys();
  const since = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
  const usage = await call(`/v1/admin/usage?since=${since}`);
  usageBox.replaceChildren(
    h("p", {}, `${usage.total_tasks} task(s), ${usage.total_credits} credits since ${since}.`),
    usageChart(byDay(usage.by_day_and_kind, 30), "Credits charged per day, all keys"),
  );
}

// ---- routing --------------------------------------------------------------------------------------

function show(title, ...children) {
  document.title = `${title} · videoapi console`;
  main.replaceChildren(...children);
}

function notFound() {
  show("Not found", h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/tasks" }, "Go to the tasks")));
}

let leave = null;

async function route() {
  leave?.();
  leave = null;
  if (!session.key) return signInView();
  if (!openapi) {
    try { await enter(); } catch (err) { session.signOut(); return signInView(err.status === 401 ? "Sign in again." : err.message); }
  }
  const [pathPart, query = ""] = (location.hash.slice(1) || "/tasks").split("?");
  const params = new URLSearchParams(query);
  const parts = pathPart.split("/").filter(Boolean);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${parts.slice(0, 2).join("/")}` || a.getAttribute("href") === `#/${parts[0]}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (parts[0] === "tasks" && parts[1]) leave = await taskView(parts[1]);
    else if (parts[0] === "tasks") leave = await tasksView(params);
    else if (parts[0] === "upload") uploadView();
    else if (parts[0] === "edit") editView(parts[1], params);
    else if (parts[0] === "timeline") timelineView();
    else if (parts[0] === "admin") await adminView();
    else notFound();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { session.signOut(); return signInView("The key is no longer accepted: sign in again."); }
    show("Error", h("h1", {}, "Something went wrong"), problemList(err));
  }
  main.focus();
}

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
