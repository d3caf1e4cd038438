// DOM helpers: elements are built from data with textContent, never from HTML strings, so nothing a
// task or a key's name holds can run as markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let fieldSeq = 0;

/** A labelled control: `<div class=field><label for=...>...</label>control<small hint></div>`. */
export function field(label, control, hint) {
  control.id ||= `f${++fieldSeq}`;
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintEl = h("small", { class: "hint", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

export function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map((o) => {
      const [v, text] = Array.isArray(o) ? o : [o, o === null ? "—" : o];
      return h("option", { value: v ?? "", selected: (v ?? "") === (value ?? "") }, text);
    }),
  );
}

/** Announce a short message to screen readers (the page's polite live region). */
export function announce(text) {
  const live = document.getElementById("live");
  if (live) live.textContent = text;
}

export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function problemList(err) {
  const items = err.errors?.length
    ? err.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message))
    : [err.message];
  return h("ul", { class: "problems" }, items.map((t) => h("li", {}, t)));
}
