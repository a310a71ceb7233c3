"""ortserve-loadtest MODEL [--concurrency 1,4,16,64 | --rate 100,500,1000] ...

(or python -m scripts.loadtest from a checkout). The client needs only what the service
installs; a missing optional package (aeon for the Japanese Vowels data) answers one
line that says what to install.
"""

from __future__ import annotations

import sys

from .cli import parse_args
from .parallel import run_async
from .report import plot, table, warnings_for, write_csv, write_json
from .sweep import ProbeError, run_sweep

# What to install for an optional package the chosen data or option needs.
INSTALL_HINTS = {
    "aeon": "pip install --no-deps aeon==1.6.0 (it carries the Japanese Vowels files), or pass --input-file",
    "models": "run from a checkout of the repository (the vowels loader lives in models/), or pass --input-file",
}


def missing_package_message(exc: ModuleNotFoundError) -> str:
    name = (exc.name or "").split(".")[0] or str(exc)
    hint = INSTALL_HINTS.get(name, f"pip install {name}")
    return f"error: this run needs the optional package {name!r}, which is not installed: {hint}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        meta, rows = run_async(run_sweep(args), args.uvloop)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # one line, never a traceback
        print(missing_package_message(exc), file=sys.stderr)
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
