// The jobs table: one SSE stream per tab re-sends the current page whenever it changes.
import { progressText } from "./format.js";

const form = document.getElementById("filters");
const body = document.querySelector("#jobs tbody");
const info = document.getElementById("pageinfo");
const hook = (window.__tether = { rows: [], total: 0, updates: 0 });
let offset = 0;
const limit = 50;
let source = null;

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value ?? "";
  if (cls) el.className = cls;
  return el;
}

function runtime(job) {
  const s = job.runtime;
  if (s == null) return "-";
  if (s < 60) return s.toFixed(1) + "s";
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}

function render(page) {
  hook.rows = page.jobs;
  hook.total = page.total;
  hook.updates += 1;
  body.replaceChildren(
    ...page.jobs.map((job) => {
      const tr = document.createElement("tr");
      tr.dataset.uuid = job.uuid;
      const link = document.createElement("a");
      link.href = `/jobs/${job.uuid}`;
      link.textContent = job.name;
      const name = document.createElement("td");
      name.append(link);
      const prog = job.progress;
      const metrics = Object.entries(job.metrics || {}).slice(-3)
        .map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(" ");
      tr.append(
        text("td", job.number), name, text("td", job.host),
        text("td", job.status, `status status-${job.status}`),
        text("td", progressText(prog)),
        text("td", metrics), text("td", runtime(job)),
      );
      return tr;
    }),
  );
  const last = Math.min(page.offset + page.jobs.length, page.total);
  info.textContent = page.total ? `${page.offset + 1}-${last} of ${page.total}` : "no jobs";
  document.getElementById("prev").disabled = page.offset === 0;
  document.getElementById("next").disabled = last >= page.total;
}

function connect() {
  if (source) source.close();
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) params.append(k, v);
  params.set("offset", offset);
  params.set("limit", limit);
  source = new EventSource(`/api/events/jobs?${params}`);
  source.addEventListener("jobs", (e) => render(JSON.parse(e.data)));
}

form.addEventListener("input", () => { offset = 0; connect(); });
form.addEventListener("submit", (e) => e.preventDefault());
document.getElementById("prev").onclick = () => { offset = Math.max(0, offset - limit); connect(); };
document.getElementById("next").onclick = () => { offset += limit; connect(); };
connect();
