"""Triton's perf_analyzer, unchanged, against a real server: every reference model, HTTP and gRPC,
its default random data, --shared-memory system and --streaming, with no error on either side.

perf_analyzer 2.40.0 is installed by scripts/install-dev.sh (scripts/install-perf-analyzer.sh).
Models with dynamic shapes get valid data from scripts/perf_data (token ids and lengths are
indices, which the server checks); the fixed-shape ones get perf_analyzer's random bytes. Each
run measures for a few hundred milliseconds: the point is that it works, not the numbers. The
perf_analyzer commands of docs/load-testing.md run here too, shortened the same way.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import httpx
import numpy as np
import pytest

from scripts.launcher import PROJECT_ROOT, ServerProcess
from service.core.config import load_model_config
from service.friendly import preprocess

pytestmark = pytest.mark.slow
PERF_ANALYZER = PROJECT_ROOT / "scripts" / "perf_analyzer.sh"
REPOSITORY = PROJECT_ROOT / "models" / "repository"
DATA = PROJECT_ROOT / "scripts" / "perf_data"
MODELS = sorted(p.name for p in REPOSITORY.iterdir() if (p / "config.json").is_file())
INPUT_DATA = {"langid_transformer": DATA / "langid_transformer.json", "vowels_gru": DATA / "vowels.json",
              "vowels_lstm": DATA / "vowels.json"}
MODES = {
    "http": ["-i", "http"],
    "grpc": ["-i", "grpc"],
    "http-shm": ["-i", "http", "--shared-memory", "system"],
    "grpc-shm": ["-i", "grpc", "--shared-memory", "system"],
    "grpc-streaming": ["-i", "grpc", "--streaming"],
}
# 250 ms windows, 3 of them: any spread counts as stable (this checks errors, not numbers).
SHORT = ["-p", "250", "-r", "3", "-s", "10000"]


@pytest.fixture(scope="module")
def server():
    if not (PROJECT_ROOT / ".tools" / "perf_analyzer" / "bin" / "perf_analyzer").exists():
        pytest.fail("perf_analyzer is not installed: run bash scripts/install-dev.sh (or scripts/install-perf-analyzer.sh)")
    with ServerProcess(REPOSITORY, grpc=True, env={"ORTSERVE_SYSTEM_SHARED_MEMORY": "true"}) as proc:
        yield proc


def failures(server, model: str) -> float:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    found = re.findall(rf'^nv_inference_request_failure{{model="{model}",[^}}]*}} (\S+)$', text, re.MULTILINE)
    return sum(float(v) for v in found)


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PERF_ANALYZER), *args], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("model", MODELS)
def test_perf_analyzer_runs_without_errors(server, model, mode):
    url = f"127.0.0.1:{server.grpc_port if 'grpc' in mode else server.port}"
    data = ["--input-data", str(INPUT_DATA[model])] if model in INPUT_DATA else []  # else: random bytes
    before = failures(server, model)
    done = run(["-m", model, "-u", url, *MODES[mode], *data, *SHORT])
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not re.search(r"error|unable|failed", output, re.IGNORECASE), output
    served = int(re.search(r"Successful request count: (\d+)", output).group(1))
    assert served > 0 and re.search(r"Concurrency: 1, throughput: [\d.]+ infer/sec", output), output
    assert failures(server, model) == before


def test_the_data_files_are_real_inputs():
    """The words' token ids are the model's own tokenizer's; the utterances are held-out ones."""
    langid = json.loads((DATA / "langid_transformer.json").read_text())["data"]
    config = load_model_config(REPOSITORY / "langid_transformer")
    for item, word in zip(langid, ["Montag", "poniedziałek", "lundi", "maandag"], strict=True):
        feeds = preprocess.text_feeds(config, preprocess.tokenize(config, word, "text", 100))
        assert item["tokens"]["content"] == feeds["tokens"][0].tolist() and set(item["mask"]["content"]) == {1}
    vowels = json.loads((DATA / "vowels.json").read_text())["data"]
    heldout = json.loads((PROJECT_ROOT / "service" / "friendly" / "data" / "vowels_heldout.json").read_text())["items"]
    for item, utterance in zip(vowels, heldout, strict=False):
        frames = np.array(utterance["frames"], np.float32)
        assert item["frames"]["shape"] == list(frames.shape) and item["lengths"]["content"] == [len(frames)]
        np.testing.assert_array_equal(np.array(item["frames"]["content"], np.float32), frames.ravel())


def documented_commands() -> list[list[str]]:
    text = (PROJECT_ROOT / "docs" / "load-testing.md").read_text(encoding="utf-8")
    lines = [line for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M) for line in block.splitlines()]
    return [shlex.split(line, comments=True)[1:] for line in lines if line.startswith("scripts/perf_analyzer.sh ")]


def test_the_documented_commands_run(server):
    commands = documented_commands()
    assert len(commands) >= 4, "the docs show how to run perf_analyzer over HTTP, gRPC, shared memory, streaming"
    for args in commands:
        args = [a.replace("localhost:8000", f"127.0.0.1:{server.port}").replace(
            "localhost:8001", f"127.0.0.1:{server.grpc_port}") for a in args]
        done = run([*args, *SHORT])
        assert done.returncode == 0 and "error" not in (done.stdout + done.stderr).lower(), (args, done.stdout, done.stderr)
