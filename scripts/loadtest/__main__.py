"""python -m scripts.loadtest MODEL [--concurrency 1,4,16,64 | --rate 100,500,1000] ..."""

from __future__ import annotations

import sys

from .cli import parse_args
from .parallel import run_async
from .report import plot, table, warnings_for, write_csv, write_json
from .sweep import ProbeError, run_sweep


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        meta, rows = run_async(run_sweep(args), args.uvloop)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{meta['model']} | {meta['payload']} | {meta['mode']} loop | data: {meta['data']}")
    print(table(rows))
    for row in rows:
        for note in warnings_for(row):
            print(f"warning: at {row['level']:g}: {note}")
    if "metrics_error" in meta:
        print(f"note: no server-side breakdown ({meta['metrics_error']})", file=sys.stderr)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "results.json", meta, rows)
        write_csv(args.out / "results.csv", rows)
        if args.plot:
            plot(args.out / "results.png", rows, f"{meta['model']} ({meta['payload']}, {meta['mode']} loop)")
        print(f"wrote {args.out}/results.json, results.csv" + (", results.png" if args.plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
