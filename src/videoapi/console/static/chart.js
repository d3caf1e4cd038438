// Usage by day as an inline SVG bar chart, with a table of the same numbers for screen readers.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Sum `rows` ({date, credits, tasks}) per day over the `days` up to today (UTC), zeros included. */
export function byDay(rows, days, today = new Date()) {
  const totals = new Map();
  for (const r of rows) {
    const t = totals.get(r.date) || { credits: 0, tasks: 0 };
    t.credits += r.credits;
    t.tasks += r.tasks;
    totals.set(r.date, t);
  }
  const out = [];
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const date = d.toISOString().slice(0, 10);
    out.push({ date, ...(totals.get(date) || { credits: 0, tasks: 0 }) });
  }
  return out;
}

export function usageChart(days, title) {
  const width = 640, height = 220, pad = { l: 44, r: 8, t: 12, b: 36 };
  const max = Math.max(...days.map((d) => d.credits), 0) || 1;
  const step = (width - pad.l - pad.r) / days.length;
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / max);
  const titleId = `chart-${Math.random().toString(36).slice(2)}`;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": titleId });
  svg.append(s("title", { id: titleId }, title));
  svg.append(s("line", { x1: pad.l, y1: y(0), x2: width - pad.r, y2: y(0), stroke: "#767676" }));
  for (const tick of [0, max / 2, max]) {
    svg.append(s("text", { x: pad.l - 4, y: y(tick) + 4, "text-anchor": "end" }, tick.toFixed(tick < 10 ? 2 : 0)));
  }
  days.forEach((d, i) => {
    const x = pad.l + i * step + step * 0.15;
    const bar = s("rect", {
      class: "bar-rect", x, y: y(d.credits), width: Math.max(step * 0.7, 1), height: y(0) - y(d.credits),
    });
    bar.append(s("title", {}, `${d.date}: ${d.credits.toFixed(2)} credits, ${d.tasks} tasks`));
    svg.append(bar);
    if (i % Math.ceil(days.length / 7) === 0) {
      svg.append(s("text", { x: x + step * 0.35, y: height - pad.b + 16, "text-anchor": "middle" }, d.date.slice(5)));
    }
  });
  const table = h(
    "table",
    { class: "visually-hidden" },
    h("caption", {}, title),
    h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Credits"), h("th", { scope: "col" }, "Tasks")),
    days.map((d) => h("tr", {}, h("td", {}, d.date), h("td", {}, d.credits.toFixed(2)), h("td", {}, d.tasks))),
  );
  return h("figure", { class: "panel" }, svg, table);
}
