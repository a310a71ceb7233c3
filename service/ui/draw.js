// Pictures on canvases: a drawing pad, a pixel grid, probability bars, a frame plot, a heatmap.
// Canvases need no img-src in the CSP, and styles are set through the CSSOM only.
import { el } from "./api.js";

// A pad to draw on with a mouse, pen or finger (bright ink on dark, as the digits were trained),
// that also takes a dropped or chosen image file. onChange(dataUrl) fires after each stroke or drop.
export function drawingPad(size, onChange) {
  const canvas = el("canvas", { width: size, height: size, class: "pad", "aria-label": "drawing pad" });
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, size, size); };
  clear();
  let drawing = false;
  let uploaded = null; // the dropped file's own bytes, sent as they are until someone draws over them
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * size / box.width, (event.clientY - box.top) * size / box.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    uploaded = null;
    canvas.setPointerCapture(event.pointerId);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = size / 11;
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(...point(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    ctx.lineTo(...point(event));
    ctx.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    onChange(canvas.toDataURL("image/png"));
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  const load = async (file) => {
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    clear();
    const scale = Math.min(size / bitmap.width, size / bitmap.height);
    const w = bitmap.width * scale, h = bitmap.height * scale;
    ctx.drawImage(bitmap, (size - w) / 2, (size - h) / 2, w, h);
    uploaded = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(file);
    });
    onChange(uploaded);
  };
  canvas.addEventListener("dragover", (event) => event.preventDefault());
  canvas.addEventListener("drop", (event) => { event.preventDefault(); load(event.dataTransfer.files[0]); });
  const picker = el("input", { type: "file", accept: "image/png,image/jpeg", onchange: (e) => load(e.target.files[0]) });
  const reset = el("button", { type: "button", text: "Clear", onclick: () => { uploaded = null; clear(); } });
  const node = el("div", { class: "pad-box" }, canvas,
    el("div", { class: "row" }, reset, el("label", { class: "file" }, "or drop / choose an image ", picker)));
  return { node, canvas, current: () => uploaded || canvas.toDataURL("image/png") };
}

// values: a flat array of height*width numbers in [low, high], drawn as grey cells with their value.
export function pixelGrid(values, height, width, range = [0, 1], cell = 24) {
  const canvas = el("canvas", { width: width * cell, height: height * cell, class: "grid" });
  const ctx = canvas.getContext("2d");
  ctx.font = `${Math.round(cell * 0.36)}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  const [low, high] = range;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x];
      const g = Math.round(255 * Math.min(1, Math.max(0, (v - low) / (high - low))));
      ctx.fillStyle = `rgb(${g},${g},${g})`;
      ctx.fillRect(x * cell, y * cell, cell, cell);
      if (cell >= 20) {
        ctx.fillStyle = g > 128 ? "#000" : "#bbb";
        ctx.fillText(v.toFixed(2).replace(/^0\./, ".").replace(/^1\.00$/, "1"), x * cell + cell / 2, y * cell + cell / 2);
      }
    }
  }
  return canvas;
}

// One bar per label, best first; a multi-label model's threshold is drawn on each bar.
export function bars(prediction, limit = 10, threshold = null) {
  const rows = prediction.top_k.length >= limit ? prediction.top_k
    : Object.entries(prediction.probabilities).map(([label, probability]) => ({ label, probability }))
      .sort((a, b) => b.probability - a.probability).slice(0, limit);
  const list = el("div", { class: "bars", "data-label": prediction.label });
  for (const { label, probability } of rows) {
    const fill = el("span", { class: "fill" });
    fill.style.width = `${(100 * probability).toFixed(1)}%`;
    const track = el("span", { class: "track" }, fill);
    if (threshold !== null) {
      const mark = el("span", { class: "threshold" });
      mark.style.left = `${100 * threshold}%`;
      track.append(mark);
    }
    list.append(el("div", { class: label === prediction.label ? "bar best" : "bar" },
      el("span", { class: "name", text: label }), track,
      el("span", { class: "value", text: `${(100 * probability).toFixed(1)}%` })));
  }
  return list;
}

// frames: [T][C]; one line per channel over time.
export function framePlot(frames, width = 420, height = 180) {
  const canvas = el("canvas", { width, height, class: "plot", "aria-label": "frames" });
  const ctx = canvas.getContext("2d");
  const flat = frames.flat();
  const low = Math.min(...flat), high = Math.max(...flat);
  const x = (t) => 8 + (width - 16) * t / Math.max(1, frames.length - 1);
  const y = (v) => height - 8 - (height - 16) * (v - low) / (high - low || 1);
  ctx.strokeStyle = "#ccc";
  ctx.beginPath();
  ctx.moveTo(8, y(0));
  ctx.lineTo(width - 8, y(0));
  ctx.stroke();
  const channels = frames[0].length;
  for (let c = 0; c < channels; c++) {
    ctx.strokeStyle = `hsl(${(360 * c) / channels}, 65%, 45%)`;
    ctx.beginPath();
    frames.forEach((frame, t) => (t ? ctx.lineTo(x(t), y(frame[c])) : ctx.moveTo(x(t), y(frame[c]))));
    ctx.stroke();
  }
  return canvas;
}

// matrix: [query][key] weights; rows and columns labelled with tokens; hovering shows the weight.
export function heatmap(matrix, tokens, tooltip) {
  const n = tokens.length, label = 28, cell = Math.max(10, Math.min(28, Math.floor(460 / n)));
  const size = label + n * cell;
  const canvas = el("canvas", { width: size, height: size, class: "heatmap", "data-size": n });
  const ctx = canvas.getContext("2d");
  const top = Math.max(...matrix.flat()) || 1;
  ctx.font = `${Math.min(13, cell - 2)}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillStyle = "#333";
  tokens.forEach((token, i) => {
    const shown = token === " " ? "␣" : token;
    ctx.fillText(shown, label + i * cell + cell / 2, label / 2);
    ctx.fillText(shown, label / 2, label + i * cell + cell / 2);
  });
  matrix.forEach((row, q) => row.forEach((w, k) => {
    const t = w / top;
    ctx.fillStyle = `rgb(${Math.round(255 - 220 * t)},${Math.round(255 - 160 * t)},${Math.round(255 - 40 * t)})`;
    ctx.fillRect(label + k * cell, label + q * cell, cell - 1, cell - 1);
  }));
  canvas.addEventListener("mousemove", (event) => {
    const box = canvas.getBoundingClientRect();
    const k = Math.floor(((event.clientX - box.left) * size / box.width - label) / cell);
    const q = Math.floor(((event.clientY - box.top) * size / box.height - label) / cell);
    if (q < 0 || k < 0 || q >= n || k >= n) { tooltip.hidden = true; return; }
    tooltip.textContent = `query ${q} '${tokens[q]}' → key ${k} '${tokens[k]}': ${matrix[q][k].toFixed(4)}`;
    tooltip.style.left = `${event.pageX + 12}px`;
    tooltip.style.top = `${event.pageY + 12}px`;
    tooltip.hidden = false;
  });
  canvas.addEventListener("mouseleave", () => { tooltip.hidden = true; });
  return canvas;
}
