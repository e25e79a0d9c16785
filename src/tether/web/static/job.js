// One job: live log over SSE (event id = byte offset), charts, params, cancel and re-run.
import uPlot from "./vendor/uplot-1.6.31/uPlot.esm.js";

const main = document.getElementById("job");
const uuid = main.dataset.uuid;
const hook = (window.__tether = { log: "", charts: {}, job: null });
const logEl = document.getElementById("log");
const follow = document.getElementById("follow");
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
let pending = "";  // the unfinished last line (a tqdm bar rewrites it with \r)
let done = [];

function collapse(line) {
  const parts = line.split("\r").filter((p) => p !== "");
  return parts.length ? parts[parts.length - 1] : "";
}

function appendLog(chunk) {
  const lines = (pending + chunk.replace(ANSI, "")).split("\n");
  pending = lines.pop();
  for (const line of lines) done.push(collapse(line));
  if (done.length > 5000) done = done.slice(-5000);
  hook.log = done.join("\n") + (pending ? "\n" + collapse(pending) : "");
  logEl.textContent = hook.log;
  if (follow.checked) logEl.scrollTop = logEl.scrollHeight;
}

function streamLog() {
  const source = new EventSource(`/api/jobs/${uuid}/log/stream`);
  hook.reconnects = -1;
  source.addEventListener("open", () => { hook.reconnects += 1; });
  source.addEventListener("log", (e) => { hook.lastEventId = e.lastEventId; appendLog(JSON.parse(e.data).text); });
  source.addEventListener("end", () => { source.close(); hook.logEnded = true; });
  hook.logSource = source;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function showJob() {
  const job = await api(`/api/jobs/${uuid}`);
  hook.job = job;
  document.getElementById("title").textContent = `#${job.number} ${job.name}`;
  const status = document.getElementById("status");
  status.textContent = `${job.status} on ${job.host}` + (job.exit_code != null ? ` (exit ${job.exit_code})` : "");
  status.className = `status-${job.status}`;
  document.getElementById("cancel").disabled = !["queued", "running"].includes(job.status);
  const rows = Object.entries((job.extra && job.extra.params) || {});
  document.getElementById("params").replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td>";
    tr.children[0].textContent = k;
    tr.children[1].textContent = JSON.stringify(v);
    return tr;
  }));
  const diff = job.extra && job.extra.param_diff;
  document.getElementById("diffbox").hidden = !diff;
  document.getElementById("paramdiff").textContent = diff || "";
  return job;
}

async function showCharts() {
  const data = await api(`/api/jobs/${uuid}/metrics?buckets=${Math.max(200, Math.min(2000, innerWidth))}`);
  const box = document.getElementById("charts");
  box.replaceChildren();
  for (const [name, m] of Object.entries(data.metrics)) {
    hook.charts[name] = m;
    const div = document.createElement("div");
    div.className = "chart";
    div.append(Object.assign(document.createElement("p"), { textContent: `${name}: ${m.sent} of ${m.points} points, last ${m.last[m.last.length - 1]}` }));
    box.append(div);
    const width = Math.min(box.clientWidth || 360, 900);
    new uPlot({ width, height: 200, scales: { x: { time: false } },
      series: [{ label: "step" }, { label: "min", stroke: "#9ab" }, { label: "max", stroke: "#9ab" }, { label: name, stroke: "#07a" }] },
      [m.step, m.min, m.max, m.last], div);
  }
}

async function showAudit() {
  const entries = await api(`/api/audit?job=${uuid}`);
  document.getElementById("audit").replaceChildren(...entries.map((e) => Object.assign(
    document.createElement("li"),
    { textContent: `${new Date(e.time * 1000).toLocaleString()} ${e.action} (${e.status}) from ${e.from}` })));
}

let program = null;
async function showForm(job) {
  program = await api(`/api/jobs/${uuid}/program`);
  const box = document.getElementById("tunables");
  box.replaceChildren(...program.tunables.map((t) => {
    const label = document.createElement("label");
    const value = t.name in program.params ? program.params[t.name] : t.default;
    const input = document.createElement("input");
    input.name = t.name;
    input.dataset.type = typeof value;
    if (typeof value === "boolean") { input.type = "checkbox"; input.checked = value; }
    else { input.type = typeof value === "number" ? "number" : "text"; if (input.type === "number") input.step = "any"; input.value = value ?? ""; }
    input.dataset.initial = input.type === "checkbox" ? String(input.checked) : input.value;
    label.append(document.createTextNode(t.name), input);
    return label;
  }));
  document.getElementById("source").value = program.source ?? "";
  document.getElementById("source").disabled = program.source == null;
}

document.getElementById("rerun").addEventListener("submit", async (e) => {
  e.preventDefault();
  const params = {};
  for (const input of document.querySelectorAll("#tunables input")) {
    const now = input.type === "checkbox" ? String(input.checked) : input.value;
    if (now === input.dataset.initial) continue;
    const type = input.dataset.type;
    params[input.name] = type === "number" ? Number(now) : type === "boolean" ? input.checked : now;
  }
  const source = document.getElementById("source").value;
  const body = { params };
  if (program && program.source != null && source !== program.source) body.source = source;
  const out = document.getElementById("rerun-result");
  try {
    const data = await api(`/api/jobs/${uuid}/rerun`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const job = data.jobs[0];
    out.className = "";
    out.innerHTML = "queued ";
    out.append(Object.assign(document.createElement("a"), { href: `/jobs/${job.uuid}`, textContent: `#${job.number}` }));
  } catch (err) {
    out.className = "error";
    out.textContent = `refused: ${err.message}`;
  }
  showAudit();
});

document.getElementById("cancel").addEventListener("click", async () => {
  try { await api(`/api/jobs/${uuid}/cancel`, { method: "POST" }); }
  catch (err) { document.getElementById("status").textContent = `cancel refused: ${err.message}`; }
  await showJob();
  showAudit();
});

const job = await showJob();
streamLog();
showCharts();
showForm(job);
showAudit();
setInterval(async () => { const j = await showJob(); if (["queued", "running"].includes(j.status)) showCharts(); }, 3000);
