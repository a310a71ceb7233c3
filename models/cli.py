"""nanoGPT-style configuration: a script's defaults live in a dict at its top; argparse overrides them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = PROJECT_ROOT / "models" / "repository"


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def parse(defaults: dict, argv: Sequence[str] | None, prog: str, choices: dict | None = None) -> SimpleNamespace:
    """`--key value` for every default; the value is converted to the default's type."""
    parser = argparse.ArgumentParser(prog=prog, description=f"defaults: {defaults}")
    for key, value in defaults.items():
        flag = "--" + key.replace("_", "-")
        kind = _parse_bool if isinstance(value, bool) else (type(value) if value is not None else str)
        parser.add_argument(flag, dest=key, type=kind, default=value, choices=(choices or {}).get(key))
    return SimpleNamespace(**vars(parser.parse_args(list(argv or []))))


def command(name: str, args: SimpleNamespace, defaults: dict) -> str:
    """The command line that rebuilds a model: `python -m models.train <name>` plus any overrides."""
    overrides = [
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k in defaults and v != defaults[k] and k != "repository"
    ]
    return " ".join(["python -m models.train", name, *overrides])
