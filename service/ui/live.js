// The live panel: per model, from the server's own statistics, refreshed every few seconds.
// Counts and batches come from Triton's statistics extension (GET /v2/models/stats); latency
// quantiles from the request-duration histogram in /metrics, interpolated within a bucket as
// Prometheus' histogram_quantile does. Rates and quantiles cover the last interval, or the time
// since the server started when nothing ran in it.
import { call, copyButtons, el } from "./api.js";

const PERIOD_MS = 3000;
const BUCKET = /^ortserve_request_duration_seconds_bucket\{(.*)\} (\S+)$/;
let previous = null;

function histograms(text) {
  const found = {};
  for (const line of text.split("\n")) {
    const match = BUCKET.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...match[1].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
    const buckets = (found[labels.model] ||= new Map());
    buckets.set(le, (buckets.get(le) || 0) + Number(match[2])); // versions of a model add up
  }
  return found;
}

export function quantile(q, buckets) {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) || 0;
  if (!total) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound);
    if (count >= rank) {
      if (bound === Infinity) return lower; // past the last finite bucket: its bound is all we know
      return lower + (bound - lower) * ((rank - below) / Math.max(count - below, 1e-12));
    }
    lower = bound;
    below = count;
  }
  return lower;
}

function totals(stats) {
  const found = {};
  for (const s of stats.model_stats) {
    const t = (found[s.name] ||= { requests: 0, inferences: 0, executions: 0 });
    t.requests += s.inference_stats.success.count;
    t.inferences += s.inference_count;
    t.executions += s.execution_count;
  }
  return found;
}

function minus(now, before) {
  if (!before) return now;
  const out = new Map();
  for (const [bound, count] of now) out.set(bound, count - (before.get(bound) || 0));
  return out;
}

const ms = (seconds) => (seconds === null ? "–" : (1000 * seconds).toFixed(seconds < 0.01 ? 2 : 1));

async function poll() {
  const note = document.getElementById("live-note");
  try {
    const [stats, metrics] = await Promise.all([
      call("GET", "/v2/models/stats", undefined, { quiet: true }),
      call("GET", "/metrics", undefined, { quiet: true }),
    ]);
    const now = { at: performance.now(), totals: totals(stats), histograms: histograms(metrics) };
    const body = document.querySelector("#live-table tbody");
    body.replaceChildren();
    for (const [name, t] of Object.entries(now.totals).sort()) {
      const before = previous && previous.totals[name];
      const fresh = before && t.requests > before.requests;
      const seconds = fresh ? (now.at - previous.at) / 1000 : null;
      const window = fresh ? minus(now.histograms[name] || new Map(), previous.histograms[name]) : now.histograms[name];
      const requests = fresh ? t.requests - before.requests : t.requests;
      const executions = fresh ? t.executions - before.executions : t.executions;
      const inferences = fresh ? t.inferences - before.inferences : t.inferences;
      body.append(el("tr", { "data-model": name, class: fresh ? "busy" : null },
        el("td", { text: name }),
        el("td", { text: seconds ? (requests / seconds).toFixed(1) : "0" }),
        el("td", { text: window ? ms(quantile(0.5, window)) : "–" }),
        el("td", { text: window ? ms(quantile(0.99, window)) : "–" }),
        el("td", { text: executions ? (inferences / executions).toFixed(2) : "–" }),
        el("td", { text: String(t.requests) })));
    }
    note.textContent = `every ${PERIOD_MS / 1000} s`;
    previous = now;
  } catch (error) {
    note.textContent = error.status === 401 ? "(needs the API key)" : `(${error.message})`;
  }
}

export function startLive() {
  const copies = document.getElementById("live-copies");
  const stats = { method: "GET", path: "/v2/models/stats", status: 200, ms: 0, meta: {}, keyed: true };
  const metrics = { method: "GET", path: "/metrics", status: 200, ms: 0, meta: {}, keyed: false };
  copies.replaceChildren(el("span", { class: "muted", text: "statistics: " }), copyButtons(stats),
    el("span", { class: "muted", text: "histograms: " }), copyButtons(metrics));
  poll();
  setInterval(poll, PERIOD_MS);
}
