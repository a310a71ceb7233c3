"""The import layering docs/architecture.md states, checked on the source (no import side effects).

routers (service/api) -> friendly helpers and protocol codecs -> the engine (service/core).
The engine never imports a web framework or the layers above it, and the service never
imports torch (the image has none).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"
WEB = ("fastapi", "starlette", "uvicorn")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVICE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module `source` imports, relative imports resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            prefix = ".".join([*base, node.module] if node.module else base)
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)  # `from . import api`
    return found


def service_imports() -> dict[str, set[str]]:
    return {module_name(p): imports(p.read_text(), module_name(p), p.name == "__init__.py")
            for p in sorted(SERVICE.rglob("*.py"))}


def offenders(layer: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for module, names in service_imports().items():
        if module == layer or module.startswith(layer + "."):
            hits = sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))
            if hits:
                bad[module] = hits
    return bad


def test_the_import_collector_resolves_relative_imports():
    source = "import torch.nn\nfrom ..friendly import images\nfrom .errors import X\nfrom . import api\n"
    found = imports(source, "service.core.config")
    assert {"torch.nn", "service.friendly", "service.friendly.images", "service.core.errors",
            "service.core.api"} <= found
    assert "service.api" in imports("from . import api\n", "service", is_package=True)


@pytest.mark.parametrize("layer, forbidden", [
    ("service.core", WEB),
    ("service.core", ("service.api", "service.friendly", "service.protocol")),
    ("service.friendly", (*WEB, "service.api")),
    ("service.protocol", (*WEB, "service.api", "service.friendly")),
    ("service", ("torch",)),
])
def test_layers_import_only_downwards(layer, forbidden):
    assert offenders(layer, forbidden) == {}


def test_the_check_sees_every_layer():
    modules = service_imports()
    for layer in ("service.core.config", "service.api.app", "service.friendly.preprocess", "service.protocol.binary"):
        assert layer in modules
    assert "fastapi" in modules["service.api.app"]  # a real import is seen, so an empty result means something
