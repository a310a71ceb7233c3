// Every request the page makes goes through call(): the API key header, the request log, errors.
// The key lives in sessionStorage (this tab only, gone when it closes), never in localStorage or a cookie.
import { snippets } from "./snippets.js";

const KEY_STORE = "ortserve.apiKey";
const LOG_LIMIT = 40;

export const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  onKeyNeeded: null, // (message) => void, set by main.js
};

export function setKey(key) {
  state.key = key;
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// meta: {oip: {model, inputs, outputs, batched}} for inference requests (their tritonclient/perf_analyzer form),
// quiet: true for the live panel's polling, which has its own copy buttons.
export async function call(method, path, body, meta = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.key) headers["X-API-Key"] = state.key;
  const text = body === undefined ? undefined : JSON.stringify(body);
  const started = performance.now();
  const response = await fetch(path, { method, headers, body: text, cache: "no-store" });
  const raw = await response.text();
  const ms = performance.now() - started;
  let data = raw;
  try { data = JSON.parse(raw); } catch { /* /metrics is text */ }
  // An inference request's tensors may only be known from its answer (/preprocess): oipFrom reads them.
  if (meta.oipFrom && response.ok) meta.oip = meta.oipFrom(data);
  const entry = { method, path, body: text, status: response.status, ms, meta, keyed: Boolean(state.key) };
  if (!meta.quiet) logRequest(entry);
  if (response.status === 401 && state.onKeyNeeded) state.onKeyNeeded(data && data.error);
  if (!response.ok) throw new ApiError(response.status, (data && data.error) || String(raw).slice(0, 300));
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// A row of "copy as" buttons, each with its text in a <pre data-snippet=...> that tests and people can read.
export function copyButtons(entry) {
  const box = el("div", { class: "copies" });
  const shown = el("pre", { class: "snippet", hidden: true });
  for (const [kind, text] of Object.entries(snippets(entry, location))) {
    const pre = el("pre", { "data-snippet": kind, hidden: true, text: text || "" });
    const button = el("button", {
      type: "button", "data-copy": kind, disabled: text ? null : "disabled",
      title: text ? `copy as ${kind}` : `${entry.method} ${entry.path} has no ${kind} form: use curl`,
      text: kind,
      onclick: async () => {
        shown.textContent = text;
        shown.hidden = false;
        try { await navigator.clipboard.writeText(text); button.classList.add("copied"); }
        catch { selectText(shown); } // no clipboard (plain http to another host): select it instead
        setTimeout(() => button.classList.remove("copied"), 1200);
      },
    });
    box.append(button, pre);
  }
  box.append(shown);
  return box;
}

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function logRequest(entry) {
  const list = document.getElementById("request-log");
  const title = el("div", { class: "request-title" },
    el("code", { text: `${entry.method} ${entry.path}` }),
    el("span", { class: entry.status < 300 ? "ok" : "bad", text: ` ${entry.status}` }),
    el("span", { class: "muted", text: ` ${entry.ms.toFixed(0)} ms` }));
  list.prepend(el("li", { "data-path": entry.path, "data-status": entry.status }, title, copyButtons(entry)));
  while (list.children.length > LOG_LIMIT) list.lastElementChild.remove();
}
