"""Train, evaluate, export and publish the reference models.

    python -m models.train all                   # everything, then models/RESULTS.md
    python -m models.train digits_lenet [--activation elu ...]
    python -m models.train digits_resnet | digits_activations | digits_denoiser
    python -m models.train vowels_lstm | vowels_gru | langid_transformer
    python -m models.train report                # rebuild RESULTS.md from models/results/*.json

Options after the model name go to that model's script (`--help` lists them).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from . import report, results, train_denoiser, train_digits, train_langid, train_vowels

COMMANDS = {
    "digits_lenet": lambda argv: train_digits.main(argv, "digits_lenet"),
    "digits_resnet": lambda argv: train_digits.main(argv, "digits_resnet"),
    "digits_activations": train_digits.activation_table,
    "digits_denoiser": train_denoiser.main,
    "vowels_lstm": lambda argv: train_vowels.main(argv, "vowels_lstm"),
    "vowels_gru": lambda argv: train_vowels.main(argv, "vowels_gru"),
    "langid_transformer": train_langid.main,
}


def run_all(argv: Sequence[str]) -> dict:
    """Every command in order, each with its defaults (plus shared options such as --repository)."""
    started = time.perf_counter()
    seconds = {}
    for name, command in COMMANDS.items():
        began = time.perf_counter()
        command(list(argv))
        seconds[name] = round(time.perf_counter() - began, 1)
    total = round(time.perf_counter() - started, 1)
    record = {"name": "all", "seconds": seconds, "total_seconds": total, "machine": report.machine()}
    results.save("timing", record)
    return record


def stamp_command_time(name: str, wall: float, cpu: float) -> None:
    """Record how long the whole command took (data, training, baselines, evaluation, export)."""
    record = results.load(name)
    if record is not None:
        record["command"] = {"wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "machine": report.machine()}
        results.save(name, record)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("models:", ", ".join(COMMANDS))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "all":
        record = run_all(rest)
        print(f"all models trained in {record['total_seconds']:.0f} s: {record['seconds']}")
    elif name in COMMANDS:
        began, cpu = time.perf_counter(), time.process_time()
        COMMANDS[name](rest)
        stamp_command_time(name, time.perf_counter() - began, time.process_time() - cpu)
    elif name != "report":
        print(f"unknown model {name!r}; choose one of: all, report, {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    path = report.write()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
