// Text models: top-k languages (or labels), and for a model with an attention output the attention
// maps as an interactive heatmap: a layer (or the rollout over all layers) and a head (or their mean).
import { call, el } from "./api.js";
import { bars, heatmap } from "./draw.js";
import { failure, oipFrom, path } from "./views.js";

const EXAMPLE = "Der Zug nach Berlin fährt um acht Uhr ab.";

function mean(matrices) {
  return matrices[0].map((row, q) => row.map((_, k) => matrices.reduce((s, m) => s + m[q][k], 0) / matrices.length));
}

export function textView(model, root) {
  const f = model.friendly;
  const box = el("textarea", { rows: 3, class: "text-input", "aria-label": "text", spellcheck: "false" });
  box.value = EXAMPLE;
  const result = el("div", { class: "result", "data-result": "text" });
  const maps = el("div", { class: "maps" });
  root.append(el("p", { class: "muted", text: f.attention_output
    ? "Type a sentence: the top labels, and the model's own attention weights (hover a cell)."
    : "Type a text: the top labels." }),
  box, el("div", { class: "row" }, el("button", { type: "button", text: "Predict", onclick: () => run(box.value) })),
  result, maps);
  let timer = null;
  box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => run(box.value), 400); });
  run(box.value);

  async function run(text) {
    if (!text) return;
    try {
      const pre = await call("POST", path(model, "preprocess"), { text }, { oipFrom: oipFrom(model) });
      let prediction;
      if (f.attention_output) {
        const outputs = [...pre.outputs, { name: f.attention_output }];
        const answer = await call("POST", path(model, "attention"), { text, bertviz: false, top_k: f.output.top_k },
          { oip: oipFrom(model, outputs)(pre) });
        prediction = answer.prediction;
        showMaps(answer);
      } else {
        const answer = await call("POST", path(model, "predict"), { text }, { oip: oipFrom(model)(pre) });
        prediction = answer.predictions[0];
      }
      const threshold = f.output.multi_label ? prediction.threshold : null;
      result.replaceChildren(
        el("h3", { class: "answer", "data-language": prediction.label,
          text: `${prediction.label} (${(100 * prediction.probability).toFixed(1)}%)${pre.truncated ? ", text truncated" : ""}` }),
        bars(prediction, f.output.top_k, threshold));
    } catch (error) { failure(result, error); }
  }

  function showMaps(answer) {
    const [layers, heads] = answer.shape;
    const layer = el("select", { "aria-label": "layer" },
      [...Array(layers).keys()].map((i) => el("option", { value: String(i), text: `layer ${i}` })),
      el("option", { value: "rollout", text: "rollout (all layers)" }));
    const head = el("select", { "aria-label": "head" },
      [...Array(heads).keys()].map((i) => el("option", { value: String(i), text: `head ${i}` })),
      el("option", { value: "mean", text: "mean of heads" }));
    layer.value = String(layers - 1);
    head.value = "mean";
    const picture = el("div", { class: "heatmap-box" });
    const tooltip = document.getElementById("tooltip");
    const draw = () => {
      head.disabled = layer.value === "rollout";
      let matrix;
      if (layer.value === "rollout") matrix = answer.rollout;
      else {
        const perHead = answer.attentions[Number(layer.value)];
        matrix = head.value === "mean" ? mean(perHead) : perHead[Number(head.value)];
      }
      picture.replaceChildren(heatmap(matrix, answer.tokens, tooltip),
        el("p", { class: "muted small", text: "rows: query characters, columns: the keys they attend to" }));
    };
    layer.addEventListener("change", draw);
    head.addEventListener("change", draw);
    maps.replaceChildren(el("div", { class: "row" }, el("strong", { text: "Attention" }), layer, head), picture);
    draw();
  }
}
