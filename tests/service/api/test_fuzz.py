"""Fuzzing the whole HTTP API from its own OpenAPI spec with schemathesis: no 5xx, ever.

The app runs in-process (ASGI) over the tiny fixture models plus the friendly
ones, so every route, friendly endpoints included, is fuzzed with valid and
invalid (negative) inputs. Path parameters are steered towards real model
names and versions, and `datatype` towards real datatype names (positive
cases; negative ones send anything else), so requests get past the 404s into
the parsers and the models.

CI budget: FUZZ_MAX_EXAMPLES per operation (default 25, whole file < 60 s).
For a larger run see docs/reliability.md ("Reproduce").
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from service.api.app import create_app
from service.core.datatypes import KSERVE_TO_NUMPY
from service.core.settings import Settings
from tests.service.friendly_models import add_friendly_models
from tests.tiny_models import make_repository

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
MODEL_NAMES = ["affine", "sequence", "img_cls", "img_ae", "seq_cls", "txt_attn"]


def _known(values: list[str]) -> dict:
    return {"type": "string", "enum": values}


def steer(spec: dict) -> dict:
    """Known names in positive cases; negative cases send anything else (unknown names)."""
    for operations in spec["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["name"] == "model_name":
                    param["schema"] = _known(MODEL_NAMES)
                elif param["name"] == "model_version":
                    param["schema"] = _known(["1", "2"])
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            items = body.get("schema", {}).get("properties", {}).get("inputs", {}).get("items", {})
            if "datatype" in items.get("properties", {}):
                items["properties"]["datatype"] = _known(list(KSERVE_TO_NUMPY))
    return spec


def build_schema():
    """The app over a fresh fixture repository, and its spec as schemathesis sees it.

    Built at import: @schema.parametrize() needs the operations at collection time
    (schemathesis's lazy from_fixture() does not run under pytest 9). Models load
    only when the first case runs the app's lifespan.
    """
    repo = make_repository(Path(_WORKDIR.name) / "repo")
    add_friendly_models(repo)
    # No admin token: load/unload answer 403, so fuzzing cannot unload a model and
    # turn later requests into (legitimate) 503s.
    app = create_app(Settings(repository=repo, log_level="error", default_timeout_s=10))
    config = SchemathesisConfig.from_dict({
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    loaded = schemathesis.openapi.from_dict(steer(app.openapi()), config=config)
    loaded.app = app
    return loaded


_WORKDIR = tempfile.TemporaryDirectory(prefix="fuzz-")
schema = build_schema()


STATUSES: Counter = Counter()


@pytest.fixture(scope="module", autouse=True)
def status_report():
    """Prints what the fuzzer reached (run with -s): 2xx means it got past validation."""
    yield
    print(f"\nfuzz: {sum(STATUSES.values())} requests, by operation and status: {dict(sorted(STATUSES.items()))}")


def asked_for_a_deadline(case) -> bool:
    """A request that set its own timeout may rightly get 504 when it passes (GUIDE §3)."""
    body = case.body if isinstance(case.body, dict) else {}
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    return "timeout" in body or "timeout" in parameters


@schema.parametrize()
def test_no_input_makes_the_server_fail(case):
    response = case.call()
    STATUSES[f"{case.operation.label} {response.status_code}"] += 1
    if response.status_code == 504 and asked_for_a_deadline(case):
        return
    case.validate_response(response, checks=[not_a_server_error])
