"""Soak drill: steady load for minutes, RSS every second, drift after warm-up.

    python -m scripts.reliability.soak                  # 2 minutes, tiny fixture or a reference model
    python -m scripts.reliability.soak --minutes 30 --repository models/repository --model vowels_lstm \\
        --output soak.json

Steady load is an open loop at `--rate` req/s (default: `--load` x a capacity
measured for a few seconds first). After `--warmup-s` (ORT's arena, caches and
Python's allocator settle), the RSS should stay flat: the report gives RSS at
the end of warm-up and at the end, their difference, and the least-squares
slope in MB per minute. Growth beyond warm-up above `--max-growth-mb` fails
(exit status 1), as does any answer other than 200.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .load import closed, describe, open_loop, request_specs
from .server import (
    MB,
    RssSampler,
    add_target_args,
    choose_target,
    emit,
    log_path_for,
    read_config,
    serving,
    split_cpus,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m scripts.reliability.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(p)
    p.add_argument("--minutes", type=float, default=2.0, help="length of the steady load (2)")
    p.add_argument("--rate", type=float, help="req/s (default: --load x measured capacity)")
    p.add_argument("--load", type=float, default=0.5, help="fraction of capacity when --rate is not given (0.5)")
    p.add_argument("--warmup-s", type=float, help="seconds excluded from drift (default: 20%% of the run, >= 5)")
    p.add_argument("--max-growth-mb", type=float, default=20.0, help="check: RSS end minus end of warm-up (20)")
    p.add_argument("--intra-op-threads", type=int, default=1, help="ORTSERVE_INTRA_OP_THREADS (1)")
    p.add_argument("--output", type=Path, help="also write the JSON report here")
    return p.parse_args(argv)


def drift(samples: list[tuple[float, int]], warmup_s: float) -> dict:
    """RSS after warm-up vs end (each the median of 3 samples, against one-off spikes) and the slope."""
    after = [(t, rss) for t, rss in samples if t >= warmup_s]
    if len(after) < 3:
        return {"warm_mb": None, "end_mb": None, "growth_mb": None, "slope_mb_per_min": None}
    warm = float(np.median([rss for _, rss in after[:3]])) / MB
    end = float(np.median([rss for _, rss in after[-3:]])) / MB
    t = np.array([s for s, _ in after]) / 60.0
    slope = float(np.polyfit(t, np.array([rss for _, rss in after]) / MB, 1)[0]) if np.ptp(t) > 0 else 0.0
    return {"warm_mb": round(warm, 1), "end_mb": round(end, 1), "growth_mb": round(end - warm, 2),
            "slope_mb_per_min": round(slope, 3)}


def run(args: argparse.Namespace) -> dict:
    duration_s = args.minutes * 60
    warmup_s = args.warmup_s if args.warmup_s is not None else max(5.0, 0.2 * duration_s)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        target = choose_target(args.repository, args.model, workdir, args.tiny)
        config = read_config(target.repository, target.model)
        specs = request_specs(config, target.model)
        env = {"ORTSERVE_INTRA_OP_THREADS": str(args.intra_op_threads)}
        server_cpus, client_cpus = (None, None) if args.url else split_cpus()
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)  # this process generates the load
        with serving(target.repository, env, url=args.url, pid=args.pid, log_path=log_path_for(workdir),
                     cpus=server_cpus) as server:
            rate = args.rate
            if rate is None:
                capacity = closed(server.url, specs, 8, 3.0)
                rate = max(1.0, args.load * capacity.ok / capacity.elapsed_s)
            with RssSampler(server.pid, interval_s=1.0) as rss:
                load_start = rss.mark()
                result = open_loop(server.url, specs, rate, duration_s, connections=16, warmup_s=0.0)
            alive = server.alive()
    samples = [(t - load_start, b) for t, b in rss.samples]
    summary = describe(result)
    report = {
        "model": target.model,
        "source": target.source,
        "minutes": args.minutes,
        "rate_rps": round(rate, 1),
        "warmup_s": warmup_s,
        "load": summary,
        "rss": rss.summary(),
        "drift": drift(samples, warmup_s),
        "rss_mb_per_second": [round(b / MB, 1) for _, b in samples],
        "server_alive": alive,
    }
    growth = report["drift"]["growth_mb"]
    report["checks"] = {
        "server_alive": alive,
        "all_answers_200": set(result.outcomes) == {"200"},
        "rss_growth_after_warmup_below_threshold": growth is not None and growth < args.max_growth_mb,
    }
    report["passed"] = all(report["checks"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return emit(run(args), args.output)


if __name__ == "__main__":
    sys.exit(main())
