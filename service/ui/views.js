// One view per kind of model, chosen from GET /v2/models/{m}/friendly (never from a model's name).
// Each friendly inference is two requests: /preprocess (the exact tensors, shown and used for the
// tritonclient/perf_analyzer snippets), then /predict or /attention (the answer).
import { call, el } from "./api.js";
import { bars, drawingPad, framePlot, pixelGrid } from "./draw.js";

export const path = (model, tail) => `/v2/models/${encodeURIComponent(model.name)}/${tail}`;

export function oipFrom(model, outputs = null) {
  return (pre) => ({
    model: model.name, inputs: pre.inputs, outputs: outputs || pre.outputs, batched: model.friendly.max_batch_size > 0,
  });
}

export function failure(box, error) {
  box.replaceChildren(el("p", { class: "error", text: error.message }));
}

// The image input's first channel as a flat [height * width] array (CHW or HWC, batch axis or not).
function firstChannel(tensor, input) {
  const plane = input.height * input.width;
  if (input.layout === "HWC") return tensor.data.filter((_, i) => i % input.channels === 0).slice(0, plane);
  return tensor.data.slice(0, plane);
}

export function imageView(model, root) {
  const f = model.friendly, input = f.input, range = input.value_range || [0, 1];
  const result = el("div", { class: "result", "data-result": "image" });
  const pad = drawingPad(224, run);
  const denoiser = f.output.type === "image";
  root.append(el("p", { class: "muted", text: denoiser
    ? "Draw or drop a digit: the model's input and its output side by side."
    : "Draw a digit (or drop an image): the probabilities, and the input the model really got." }),
  el("div", { class: "columns" }, pad.node, result));

  async function run(dataUrl) {
    try {
      const pre = await call("POST", path(model, "preprocess"), { image_b64: dataUrl }, { oipFrom: oipFrom(model) });
      const oip = oipFrom(model)(pre);
      const seen = firstChannel(pre.inputs.find((t) => t.name === input.name), input);
      const got = el("figure", {}, pixelGrid(seen, input.height, input.width, range),
        el("figcaption", { text: `model input ${input.width}x${input.height}${pre.inverted ? " (upload inverted to the model's polarity)" : ""}` }));
      if (denoiser) {
        const answer = await call("POST", path(model, "predict"), { images_b64: [dataUrl], format: "json" }, { oip });
        const item = answer.predictions[0], [low, high] = f.output.value_range;
        // Shown in the model's polarity, like its input: an inverted upload's answer is flipped back here.
        const values = item.values.flat(Infinity).map((v) => (item.inverted ? low + high - v : v));
        result.replaceChildren(el("div", { class: "columns" }, got,
          el("figure", { "data-output": "image" }, pixelGrid(values, input.height, input.width, [low, high]),
            el("figcaption", { text: "model output" }))));
      } else {
        const answer = await call("POST", path(model, "predict"), { images_b64: [dataUrl] }, { oip });
        const prediction = answer.predictions[0];
        const shown = bars(prediction, Math.min(10, f.output.labels.length), f.output.multi_label ? prediction.threshold : null);
        result.replaceChildren(el("h3", { class: "answer", text: `${prediction.label} (${(100 * prediction.probability).toFixed(1)}%)` }),
          el("div", { class: "columns" }, got, shown));
      }
    } catch (error) { failure(result, error); }
  }
}

function parseFrames(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    const parsed = JSON.parse(trimmed);
    return Array.isArray(parsed.frames) ? parsed.frames : parsed;
  }
  return trimmed.split(/\r?\n/).filter((line) => line.trim() && !line.startsWith("#"))
    .map((line) => line.trim().split(/[\s,;]+/).map(Number));
}

export async function sequenceView(model, root) {
  const f = model.friendly;
  const result = el("div", { class: "result", "data-result": "sequence" });
  const picker = el("select", { "aria-label": "held-out utterance" }, el("option", { value: "", text: "pick an example" }));
  const upload = el("input", { type: "file", accept: ".json,.csv,.txt" });
  root.append(el("p", { class: "muted", text: `Frames of ${f.input.channels} channels: pick a held-out example or upload one (JSON [[...], ...], or one frame per line).` }),
    el("div", { class: "row" }, picker, el("label", { class: "file" }, "or upload ", upload)), result);
  let items = [];
  if (f.samples) {
    const samples = await call("GET", path(model, "samples"));
    items = samples.items;
    items.forEach((item, i) => picker.append(el("option", { value: String(i),
      text: `${item.label}, test utterance #${item.index} (${item.frames.length} frames)` })));
    root.append(el("p", { class: "muted small", text: `Examples: ${samples.source} (${samples.licence}).` }));
  }
  picker.addEventListener("change", () => picker.value && run(items[Number(picker.value)].frames, items[Number(picker.value)].label));
  upload.addEventListener("change", async () => {
    try { run(parseFrames(await upload.files[0].text()), null); } catch (error) { failure(result, error); }
  });

  async function run(frames, truth) {
    try {
      const pre = await call("POST", path(model, "preprocess"), { frames }, { oipFrom: oipFrom(model) });
      const answer = await call("POST", path(model, "predict"), { frames }, { oip: oipFrom(model)(pre) });
      const prediction = answer.predictions[0];
      result.replaceChildren(
        el("figure", {}, framePlot(frames), el("figcaption", { text: `${frames.length} frames x ${frames[0].length} channels` })),
        el("h3", { class: "answer", text: `${prediction.label} (${(100 * prediction.probability).toFixed(1)}%)${truth ? `, truth: ${truth}` : ""}` }),
        bars(prediction, Math.min(10, f.output.labels.length)));
    } catch (error) { failure(result, error); }
  }
}

// A model without friendly preprocessing: its raw tensors, zeros of the declared shapes to start from.
export function tensorView(model, root) {
  const batched = model.friendly.max_batch_size > 0;
  const inputs = model.meta.inputs.map((t) => {
    const shape = t.shape.map((d) => (d < 0 ? 1 : d));
    const count = shape.reduce((a, b) => a * b, 1);
    return { name: t.name, shape, datatype: t.datatype, data: Array(count).fill(t.datatype === "BYTES" ? "" : 0) };
  });
  const body = { inputs, outputs: model.meta.outputs.map((t) => ({ name: t.name })) };
  const editor = el("textarea", { class: "tensor-editor", rows: 10, spellcheck: "false", "aria-label": "infer body" });
  editor.value = JSON.stringify(body, null, 1);
  const result = el("pre", { class: "result", "data-result": "tensor" });
  const send = async () => {
    try {
      const request = JSON.parse(editor.value);
      const oip = { model: model.name, inputs: request.inputs, outputs: request.outputs || body.outputs, batched };
      const answer = await call("POST", path(model, "infer"), request, { oip });
      result.textContent = JSON.stringify(answer.outputs.map((o) => ({ ...o, data: o.data.slice(0, 64) })), null, 1);
    } catch (error) { result.textContent = error.message; }
  };
  root.append(el("p", { class: "muted", text: "No preprocessing is declared for this model: edit its input tensors and send them to /infer." }),
    editor, el("div", { class: "row" }, el("button", { type: "button", text: "Infer", onclick: send })), result);
}

// One-hot / multi-hot against the model's labels: encode labels, decode a vector.
export function encodingPanel(model, root) {
  const labels = model.friendly.labels;
  const mode = el("select", { "aria-label": "encoding" }, el("option", { value: "multi-hot", text: "multi-hot" }),
    el("option", { value: "one-hot", text: "one-hot" }));
  const names = el("input", { type: "text", value: labels.slice(0, 2).join(", "), "aria-label": "labels", list: "label-list" });
  const vector = el("textarea", { rows: 2, "aria-label": "vector", spellcheck: "false" });
  const out = el("pre", { class: "result", "data-result": "encoding" });
  const encode = async () => {
    const chosen = names.value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { model: model.name, labels: chosen }; // multi-hot: one item; one-hot: one label per item
    try {
      const answer = await call("POST", `/v2/encoding/${mode.value}/encode`, body);
      vector.value = JSON.stringify(answer.vectors.length === 1 ? answer.vectors[0] : answer.vectors);
      out.textContent = `encoded: ${vector.value}`;
    } catch (error) { out.textContent = error.message; }
  };
  const decode = async () => {
    try {
      const answer = await call("POST", `/v2/encoding/${mode.value}/decode`, { model: model.name, vectors: JSON.parse(vector.value) });
      out.textContent = `decoded: ${JSON.stringify(answer.labels)}`;
    } catch (error) { out.textContent = error.message; }
  };
  root.append(el("details", { class: "encoding" }, el("summary", { text: `One-hot / multi-hot over its ${labels.length} labels` }),
    el("datalist", { id: "label-list" }, labels.map((l) => el("option", { value: l }))),
    el("div", { class: "row" }, mode, names, el("button", { type: "button", text: "Encode", onclick: encode })),
    el("div", { class: "row" }, vector, el("button", { type: "button", text: "Decode", onclick: decode })), out));
}
