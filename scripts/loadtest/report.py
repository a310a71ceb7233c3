"""Turning step results into rows, and rows into a table, JSON, CSV and a PNG."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

from .stats import PERCENTILES, StepStats, percentile_label

LATENCY_KEYS = [f"{percentile_label(p)}_ms" for p in PERCENTILES] + ["max_ms"]
CPU_WARN_FRACTION = 0.85  # of one core: past this the client, not the server, may be the limit


def step_row(stats: StepStats, server: dict, **context) -> dict:
    """One flat record per step: the context (model, mode, level...), client and server figures."""
    elapsed = stats.elapsed_s
    row = dict(context)
    row.update(stats.summary())
    row.update(
        {
            "elapsed_s": elapsed,
            "sent": stats.sent,
            "reconnects": stats.reconnects,
            "errors": stats.errors,
            "errors_total": sum(stats.errors.values()),
            "client_cpu": stats.client_cpu_max,
        }
    )
    if context.get("mode") == "open":
        row.update(
            {
                "offered_rps": context.get("rate"),
                "achieved_rps": row["throughput_rps"],
                "late": stats.late,
                "dropped": stats.dropped,
                "max_send_lag_ms": stats.max_send_lag_s * 1e3,
            }
        )
    row.update(server)
    return row


def warnings_for(row: dict) -> list[str]:
    notes = []
    if row["client_cpu"] > CPU_WARN_FRACTION:
        notes.append(
            f"client CPU at {row['client_cpu']:.0%} of a core: the client may be the bottleneck "
            "(try --processes N, or pin client and server to separate cores)"
        )
    if row.get("reconnects"):
        notes.append(f"{row['reconnects']} connections reopened: keep-alive did not hold (or requests timed out)")
    if row.get("late"):
        notes.append(f"{row['late']} sends left later than planned (max lag {row['max_send_lag_ms']:.1f} ms)")
    if row.get("dropped"):
        notes.append(f"{row['dropped']} requests dropped at the in-flight cap (--max-inflight)")
    return notes


def _fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(rows: list[dict]) -> str:
    """A fixed-width table, one line per step."""
    open_loop = any(r.get("mode") == "open" for r in rows)
    columns = [("level", "level", 0), ("ok", "requests_ok", 0), ("req/s", "throughput_rps", 1)]
    if open_loop:
        columns += [("offered", "offered_rps", 0), ("late", "late", 0), ("drop", "dropped", 0)]
    columns += [(k.removesuffix("_ms"), k, 2) for k in LATENCY_KEYS]
    columns += [
        ("err", "errors_total", 0), ("queue", "server_queue_ms", 3), ("compute", "server_compute_ms", 3),
        ("batch", "mean_batch_size", 2), ("cpu", "client_cpu", 2),
    ]
    cells = [[title for title, _, _ in columns]]
    for row in rows:
        cells.append([_fmt(row.get(key), digits) for _, key, digits in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, meta: dict, rows: list[dict]) -> None:
    dump_json(path, {"meta": meta, "steps": rows})


def dump_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(_json_safe(doc), indent=2) + "\n")


def _json_safe(value):
    """NaN (a figure that could not be computed) becomes null: NaN is not JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            flat = {k: (";".join(f"{c}={n}" for c, n in v.items()) if isinstance(v, dict) else v) for k, v in row.items()}
            writer.writerow(flat)


def plot(path: Path, rows: list[dict], title: str) -> None:
    """Latency percentiles (log scale) and throughput against the swept level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["level"] for r in rows]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key in LATENCY_KEYS:
        lat.plot(xs, [r[key] for r in rows], marker="o", label=key.removesuffix("_ms"))
    lat.set_yscale("log")
    lat.set_ylabel("latency (ms)")
    thr.plot(xs, [r["throughput_rps"] for r in rows], marker="o", label="achieved")
    if any(r.get("mode") == "open" for r in rows):
        thr.plot(xs, xs, linestyle="--", color="grey", label="offered")
    thr.set_ylabel("requests/s")
    axis = "rate (req/s)" if rows and rows[0].get("mode") == "open" else "concurrency"
    for ax in (lat, thr):
        ax.set_xlabel(axis)
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class StepProgress:
    """A time-based progress bar on stderr for one step (silent when not a terminal,
    or when tqdm, a training-stack package, is not installed)."""

    def __init__(self, description: str, total_s: float | None) -> None:
        self.bar = None
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total_s, desc=description, unit="s", file=sys.stderr, leave=False,
                        bar_format="{desc} {bar} {n:.0f}/{total:.0f}s" if total_s else "{desc} {n:.0f}s",
                        disable=not sys.stderr.isatty())

    def __call__(self, elapsed: float) -> None:
        if self.bar is not None:
            self.bar.n = min(elapsed, self.bar.total) if self.bar.total else elapsed
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
