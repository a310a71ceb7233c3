"""Ratios against the targets, and the markdown tables of a benchmark run."""

from __future__ import annotations

import math

from .matrix import pick

SERVED_OVER_RAW_TARGET = 0.80  # binary payloads at the highest concurrency
P50_OVERHEAD_TARGET_MS = 0.3  # batching on minus off, at concurrency 1


def _ratio(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b else math.nan


def ratios(served: list[dict], ort_rows: list[dict], concurrencies: tuple[int, ...]) -> dict:
    """The headline comparisons for one model (NaN where a figure is missing)."""
    low, high = min(concurrencies), max(concurrencies)
    on_bin_high = pick(served, batching=True, payload="binary", level=high)
    off_bin_high = pick(served, batching=False, payload="binary", level=high)
    on_json_high = pick(served, batching=True, payload="json", level=high)
    on_bin_low = pick(served, batching=True, payload="binary", level=low)
    off_bin_low = pick(served, batching=False, payload="binary", level=low)
    served_items = on_bin_high["items_per_s"] if on_bin_high else None
    formed = max(1, round(on_bin_high["mean_batch_size"])) if on_bin_high and _finite(on_bin_high.get("mean_batch_size")) else 1
    ort_at = {r["batch"]: r["items_per_s"] for r in ort_rows}
    return {
        "concurrency_high": high,
        "concurrency_low": low,
        "formed_batch": formed,
        "served_over_raw_formed": _ratio(served_items, ort_at.get(formed)),
        "served_over_raw_max_batch": _ratio(served_items, ort_at.get(max(ort_at, default=0))),
        "served_over_raw_batch1": _ratio(served_items, ort_at.get(1)),
        "batching_on_over_off": _ratio(served_items, off_bin_high["items_per_s"] if off_bin_high else None),
        "binary_over_json": _ratio(served_items, on_json_high["items_per_s"] if on_json_high else None),
        "p50_low_batched_minus_unbatched_ms": (
            on_bin_low["p50_ms"] - off_bin_low["p50_ms"] if on_bin_low and off_bin_low else math.nan
        ),
    }


def beyond_ort_ms(row: dict, ort_rows: list[dict]) -> float:
    """Server CPU per request minus what raw ORT spends on the same items at the same batch size:
    the serving overhead (HTTP, parsing, queueing, encoding) in ms of CPU per request."""
    cpu = row.get("server_cpu_ms")
    size = row.get("mean_batch_size") if row["batching"] else 1.0
    if not _finite(cpu) or not _finite(size) or not row.get("throughput_rps"):
        return math.nan
    ort_ms = ort_cpu_ms_per_item(ort_rows).get(max(1, round(size)))
    if ort_ms is None:
        return math.nan
    items_per_request = row["items_per_s"] / row["throughput_rps"]
    return cpu - ort_ms * items_per_request


def ort_cpu_ms_per_item(ort_rows: list[dict]) -> dict[int, float]:
    """Raw ORT's CPU ms per item by batch size (wall time when a row has no CPU figure)."""
    return {r["batch"]: r["cpu_ms_per_item"] if _finite(r.get("cpu_ms_per_item")) else 1e3 / r["items_per_s"]
            for r in ort_rows if r.get("items_per_s")}


def cpu_ratio(served: list[dict], ort_rows: list[dict], level: int) -> float:
    """Raw ORT's CPU per item at max batch over the server's CPU per item (batching on, binary, c=level):
    the served/raw throughput ratio on a dedicated core, which a busy shared machine cannot show directly."""
    row = pick(served, batching=True, payload="binary", level=level)
    per_item = ort_cpu_ms_per_item(ort_rows)
    if row is None or not per_item or not _finite(row.get("server_cpu_ms")) or not row.get("items_per_s"):
        return math.nan
    server_per_item = row["server_cpu_ms"] * row["throughput_rps"] / row["items_per_s"]
    return per_item[max(per_item)] / server_per_item


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _f(value, spec: str = ".2f") -> str:
    return format(value, spec) if _finite(value) else "-"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def model_section(name: str, data: dict) -> list[str]:
    r = data["ratios"]
    lines = [f"## {name}", "", f"Data: {data['data']}", "", "Raw ONNX Runtime, in-process on the server's CPUs (the ceiling):", "",
             "| batch | items/s | p50 ms per run | p99 ms per run |", "|---:|---:|---:|---:|"]
    lines += [f"| {o['batch']} | {_f(o['items_per_s'], ',.0f')} | {_f(o['p50_ms'], '.3f')} | {_f(o['p99_ms'], '.3f')} |"
              for o in data["ort"]]
    lines += ["", "Served (closed loop). Server CPU per request is read from /proc (user + system, all threads); "
              "beyond ORT subtracts raw ORT's time for the same items at the batch size the server formed:", "",
              "| batching | payload | concurrency | req/s | items/s | p50 ms | p99 ms | errors | mean batch | queue ms | "
              "compute ms | server CPU ms/req | beyond ORT ms/req | client CPU |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in data["served"]:
        lines.append(
            f"| {'on' if s['batching'] else 'off'} | {s['payload']} | {s['level']} | {_f(s['throughput_rps'], ',.0f')} | "
            f"{_f(s['items_per_s'], ',.0f')} | {_f(s['p50_ms'], '.3f')} | {_f(s['p99_ms'], '.3f')} | {s['errors_total']} | "
            f"{_f(s.get('mean_batch_size'))} | {_f(s.get('server_queue_ms'), '.3f')} | "
            f"{_f(s.get('server_compute_ms'), '.3f')} | {_f(s.get('server_cpu_ms'), '.3f')} | "
            f"{_f(beyond_ort_ms(s, data['ort']), '.3f')} | {_f(s['client_cpu'], '.0%')} |"
        )
    high, low = r["concurrency_high"], r["concurrency_low"]
    served_ok = r["served_over_raw_formed"] >= SERVED_OVER_RAW_TARGET if _finite(r["served_over_raw_formed"]) else None
    cpu_r = cpu_ratio(data["served"], data["ort"], high)
    cpu_ok = cpu_r >= SERVED_OVER_RAW_TARGET if _finite(cpu_r) else None
    p50 = r["p50_low_batched_minus_unbatched_ms"]
    p50_ok = p50 <= P50_OVERHEAD_TARGET_MS if _finite(p50) else None
    lines += ["", "| ratio | value | target | |", "|---|---:|---:|---|",
              f"| served (binary, c={high}) / raw ORT at the batch the server formed ({r['formed_batch']}) | "
              f"{_f(r['served_over_raw_formed'], '.1%')} | >= {SERVED_OVER_RAW_TARGET:.0%} | {_verdict(served_ok)} |",
              f"| served (binary, c={high}) / raw ORT at max batch | {_f(r['served_over_raw_max_batch'], '.1%')} | | |",
              f"| served (binary, c={high}) / raw ORT at batch 1 | {_f(r['served_over_raw_batch1'], '.1%')} | | |",
              f"| raw ORT CPU per item at max batch / server CPU per item (binary, c={high}): served/raw on a "
              f"dedicated core | {_f(cpu_ratio(data['served'], data['ort'], high), '.1%')} | >= {SERVED_OVER_RAW_TARGET:.0%} | "
              f"{_verdict(cpu_ok)} |",
              f"| batching on / off (binary, c={high}) | {_f(r['batching_on_over_off'])}x | | |",
              f"| binary / JSON (batching on, c={high}) | {_f(r['binary_over_json'])}x | | |",
              f"| p50 at c={low}: batched minus unbatched (binary) | {_f(p50, '+.3f')} ms | <= {P50_OVERHEAD_TARGET_MS} ms | {_verdict(p50_ok)} |",
              ""]
    busy = [s for s in data["served"] if s["client_cpu"] > 0.85]
    if busy:
        lines += [f"Client CPU passed 85% of a core in {len(busy)} of {len(data['served'])} steps: there the "
                  "client, not the server, may set the throughput.", ""]
    return lines


def render(doc: dict) -> str:
    m, s = doc["machine"], doc["settings"]
    lines = [
        "# Benchmark results", "",
        f"- Machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs (usable {m['usable_cpus']}), "
        f"onnxruntime {m['onnxruntime']}, Python {m['python']}, load average at start {m['load_average_at_start']}",
        f"- CPU pinning: {s['pinning']}; ONNX Runtime intra-op threads: {s['threads'] or 'default'}",
        f"- Steps: closed loop, {s['duration_s']} s measured after {s['warmup_s']} s warm-up, "
        f"{s['processes']} client process(es); raw ORT {s['ort_seconds']} s per batch size",
        f"- Command: `{s['command']}`", "",
    ]
    for name, data in doc["models"].items():
        lines += model_section(name, data)
    for name, error in doc.get("errors", {}).items():
        lines += [f"## {name}", "", f"Not measured: {error}", ""]
    return "\n".join(lines)
