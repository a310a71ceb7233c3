// "Copy as curl / tritonclient / perf_analyzer" for one logged request.
// curl repeats the request byte for byte. tritonclient and perf_analyzer speak the Open Inference
// Protocol, so an inference request gets them with the exact tensors the model received (entry.meta.oip,
// from /preprocess or the /infer body itself); metadata, config, index and stats map to tritonclient calls.
// The key is never written out: snippets read it from $ORTSERVE_API_KEY.

const NUMPY = {
  BOOL: "np.bool_", UINT8: "np.uint8", UINT16: "np.uint16", UINT32: "np.uint32", UINT64: "np.uint64",
  INT8: "np.int8", INT16: "np.int16", INT32: "np.int32", INT64: "np.int64",
  FP16: "np.float16", FP32: "np.float32", FP64: "np.float64", BYTES: "np.object_",
};

export function snippets(entry, where) {
  return {
    curl: curl(entry, where),
    tritonclient: tritonclient(entry, where),
    perf_analyzer: perfAnalyzer(entry, where),
  };
}

function shellQuote(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function curl(entry, where) {
  const lines = [`curl -sS -X ${entry.method} ${shellQuote(where.origin + entry.path)}`];
  if (entry.body !== undefined) lines.push(`-H 'Content-Type: application/json'`);
  if (entry.keyed) lines.push(`-H "X-API-Key: $ORTSERVE_API_KEY"`);
  if (entry.body !== undefined) lines.push(`-d ${shellQuote(entry.body)}`);
  return lines.join(" \\\n  ");
}

function hostPort(where) {
  return where.host; // host:port, no scheme, as tritonclient and perf_analyzer take it
}

// A tritonclient.http call for the requests that have one; null otherwise.
function tritonclient(entry, where) {
  const model = (entry.path.match(/^\/v2\/models\/([^/]+)/) || [])[1];
  const head = [
    ...(entry.keyed ? ["import os", ""] : []),
    "import numpy as np",
    "import tritonclient.http as httpclient",
    "",
    `client = httpclient.InferenceServerClient(${JSON.stringify(hostPort(where))}${where.protocol === "https:" ? ", ssl=True" : ""})`,
    `headers = ${entry.keyed ? '{"X-API-Key": os.environ["ORTSERVE_API_KEY"]}' : "None"}`,
  ];
  const oip = entry.meta && entry.meta.oip;
  if (oip) {
    const lines = [...head, "inputs = []"];
    for (const t of oip.inputs) {
      const values = t.datatype === "BYTES" ? JSON.stringify(t.data) : `[${t.data.join(", ")}]`;
      lines.push(
        `tensor = httpclient.InferInput(${JSON.stringify(t.name)}, ${JSON.stringify(t.shape)}, ${JSON.stringify(t.datatype)})`,
        `tensor.set_data_from_numpy(np.array(${values}, dtype=${NUMPY[t.datatype]}).reshape(${JSON.stringify(t.shape)}))`,
        "inputs.append(tensor)");
    }
    const names = oip.outputs.map((o) => JSON.stringify(o.name));
    lines.push(`outputs = [httpclient.InferRequestedOutput(name) for name in [${names.join(", ")}]]`,
      `result = client.infer(${JSON.stringify(oip.model)}, inputs, outputs=outputs, headers=headers)`);
    for (const n of names) lines.push(`print(${n}, result.as_numpy(${n}).tolist())`);
    return lines.join("\n");
  }
  const calls = {
    "POST /v2/repository/index": "client.get_model_repository_index(headers=headers)",
    "GET /v2/models/stats": "client.get_inference_statistics(headers=headers)",
    "GET /v2": "client.get_server_metadata(headers=headers)",
  };
  let call = calls[`${entry.method} ${entry.path}`];
  if (!call && model && entry.method === "GET") {
    const suffix = entry.path.slice(`/v2/models/${model}`.length);
    const byModel = {
      "": "get_model_metadata", "/config": "get_model_config", "/stats": "get_inference_statistics",
      "/ready": "is_model_ready",
    };
    if (suffix in byModel) call = `client.${byModel[suffix]}(${JSON.stringify(decodeURIComponent(model))}, headers=headers)`;
  }
  return call ? [...head, `print(${call})`].join("\n") : null;
}

// perf_analyzer with the request's own tensors as --input-data; null for anything but inference.
function perfAnalyzer(entry, where) {
  const oip = entry.meta && entry.meta.oip;
  if (!oip) return null;
  const batched = oip.batched;
  const data = {};
  for (const t of oip.inputs) {
    // perf_analyzer adds the batch axis itself (-b 1): the file holds one item's shape, and one
    // number per item is [1], as the server's metadata says (perf_analyzer refuses an empty shape).
    const item = batched ? t.shape.slice(1) : t.shape;
    data[t.name] = { content: t.data, shape: item.length ? item : [1] };
  }
  const command = [
    `perf_analyzer -m ${oip.model} -u ${hostPort(where)} -i http`,
    "--input-data ortserve-input.json",
    ...(batched ? ["-b 1"] : []),
    "--concurrency-range 1:4",
    ...(entry.keyed ? [`-H "X-API-Key:$ORTSERVE_API_KEY"`] : []),
  ];
  return [
    "cat > ortserve-input.json <<'EOF'",
    JSON.stringify({ data: [data] }),
    "EOF",
    command.join(" \\\n  "),
  ].join("\n");
}
