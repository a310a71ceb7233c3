// The page: find the models (repository index), ask for the API key when the server wants one,
// and draw the chosen model's view from its metadata, config and friendly description.
import { call, el, setKey, state } from "./api.js";
import { startLive } from "./live.js";
import { textView } from "./text.js";
import { encodingPanel, imageView, path, sequenceView, tensorView } from "./views.js";

const KINDS = { image: "image", sequence: "sequence", text: "text" };

function askForKey(reason) {
  const dialog = document.getElementById("key-dialog");
  document.getElementById("key-reason").textContent = reason || "";
  document.getElementById("key-button").hidden = false;
  if (!dialog.open) dialog.showModal();
}

function setUpKey() {
  state.onKeyNeeded = askForKey;
  document.getElementById("key-button").addEventListener("click", () => askForKey(""));
  if (state.key) document.getElementById("key-button").hidden = false;
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault(); // nothing is submitted anywhere (form-action 'none'): the key stays in this tab
    setKey(document.getElementById("key-input").value.trim());
    document.getElementById("key-dialog").close();
    loadModels();
  });
}

async function loadModels() {
  const nav = document.getElementById("models");
  let index;
  try {
    index = await call("POST", "/v2/repository/index", {});
  } catch (error) {
    nav.replaceChildren(el("p", { class: "error", text: error.message }));
    return;
  }
  const names = [...new Set(index.filter((row) => row.state === "READY").map((row) => row.name))].sort();
  const described = await Promise.all(names.map((name) => call("GET", path({ name }, "friendly")).catch(() => null)));
  const list = el("ul");
  names.forEach((name, i) => {
    list.append(el("li", {}, el("a", { href: `#${name}`, "data-model": name }, name,
      el("span", { class: "muted small", text: ` ${badge(described[i])}` }))));
  });
  const broken = index.filter((row) => row.state !== "READY");
  nav.replaceChildren(el("h2", { text: "Models" }), list,
    ...broken.map((row) => el("p", { class: "muted small", text: `${row.name}: ${row.state} ${row.reason || ""}` })));
  const wanted = decodeURIComponent(location.hash.slice(1));
  // A newcomer meets a classifier they can draw for first, whatever the models are called.
  const first = names.find((_, i) => described[i] && described[i].kind === "image" && described[i].output.type === "labels");
  show(names.includes(wanted) ? wanted : first || names[0]);
}

function badge(friendly) {
  if (!friendly) return "";
  const into = friendly.output.type === "image" ? "image" : "labels";
  const kind = friendly.kind || "tensors";
  return `${kind} → ${into}${friendly.attention_output ? " + attention" : ""}`;
}

async function show(name) {
  if (!name) return;
  for (const a of document.querySelectorAll("#models a")) a.classList.toggle("current", a.dataset.model === name);
  const view = document.getElementById("view");
  view.replaceChildren(el("p", { class: "muted", text: `Loading ${name}...` }));
  const model = { name };
  try {
    [model.meta, model.config, model.friendly] = await Promise.all([
      call("GET", `/v2/models/${encodeURIComponent(name)}`),
      call("GET", path(model, "config")),
      call("GET", path(model, "friendly")),
    ]);
  } catch (error) {
    view.replaceChildren(el("p", { class: "error", text: error.message }));
    return;
  }
  const f = model.friendly;
  const shapes = model.meta.inputs.map((t) => `${t.name} ${t.datatype}[${t.shape.join(", ")}]`).join(", ");
  const root = el("section", { class: "model", "data-kind": f.kind || "tensor" });
  view.replaceChildren(el("h2", { text: name }),
    el("p", { class: "muted", text: `${f.description || ""} · version ${f.version} · ${model.meta.provider || ""} · inputs ${shapes} · max_batch_size ${model.config.max_batch_size}` }),
    root);
  const kind = KINDS[f.kind];
  if (kind === "image") imageView(model, root);
  else if (kind === "sequence") await sequenceView(model, root);
  else if (kind === "text") textView(model, root);
  else tensorView(model, root);
  if (f.labels.length) encodingPanel(model, root);
}

async function serverInfo() {
  try {
    const meta = await call("GET", "/v2", undefined, { quiet: true });
    document.getElementById("server").textContent = `${meta.name} ${meta.version}`;
  } catch { /* the page works without it */ }
}

addEventListener("hashchange", () => show(decodeURIComponent(location.hash.slice(1))));
setUpKey();
serverInfo();
loadModels();
startLive();
