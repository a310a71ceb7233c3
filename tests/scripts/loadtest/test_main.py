"""The command end to end: against the fake server (fast) and the real service (slow)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scripts.launcher import ServerProcess
from scripts.loadtest.__main__ import main

from ..conftest import DIGITS_CONFIG

SHORT = ["--duration", "0.5", "--warmup", "0.2"]


@pytest.fixture
def digits_repo(tmp_path):
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "config.json").write_text(json.dumps(DIGITS_CONFIG))
    return tmp_path


def test_closed_sweep_writes_table_json_csv_and_plot(fake_server, digits_repo, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["digits", "--url", fake_server.url, "--repository", str(digits_repo), "--concurrency", "1,2",
                 "--out", str(out), "--plot", *SHORT])
    assert code == 0
    printed = capsys.readouterr().out
    assert "data: sklearn load_digits" in printed and "p99.9" in printed
    doc = json.loads((out / "results.json").read_text())
    assert [s["level"] for s in doc["steps"]] == [1, 2]
    assert all(s["requests_ok"] > 0 and s["errors_total"] == 0 for s in doc["steps"])
    assert doc["steps"][0]["mean_batch_size"] == pytest.approx(2.0, abs=0.1)  # the fake server's counters
    assert (out / "results.csv").read_text().startswith("model,payload,mode,level")
    assert (out / "results.png").stat().st_size > 1000


def test_open_loop_friendly_mode_and_failures_by_status(fake_server, digits_repo, tmp_path):
    fake_server.state.fail_every = 4
    out = tmp_path / "out"
    assert main(["digits", "--url", fake_server.url, "--repository", str(digits_repo), "--payload", "json",
                 "--rate", "50", "--out", str(out), "--seed", "1", *SHORT]) == 0
    step = json.loads((out / "results.json").read_text())["steps"][0]
    assert step["offered_rps"] == 50 and step["sent"] == 25
    assert step["errors"]["503"] == pytest.approx(25 / 4, abs=1)
    fake_server.state.fail_every = 0
    assert main(["digits", "--url", fake_server.url, "--repository", str(digits_repo), "--payload", "friendly",
                 "--concurrency", "1", *SHORT]) == 0


def test_without_a_config_file_the_servers_metadata_is_used(fake_server, tmp_path, capsys):
    assert main(["digits", "--url", fake_server.url, "--repository", str(tmp_path), "--concurrency", "1", *SHORT]) == 0
    assert "data: sklearn load_digits" in capsys.readouterr().out  # [1, 8, 8] from the metadata, batch axis dropped


def test_a_refused_first_request_stops_before_measuring(fake_server, digits_repo, tmp_path, capsys):
    fake_server.state.fail_every = 1
    assert main(["digits", "--url", fake_server.url, "--repository", str(digits_repo), "--concurrency", "1", *SHORT]) == 2
    assert "answered 503" in capsys.readouterr().err


@pytest.fixture(scope="module")
def real_server(served_repo, tmp_path_factory):
    with ServerProcess(served_repo, log_path=tmp_path_factory.mktemp("server") / "server.log", grpc=True) as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("payload", ["binary", "json", "friendly"])
def test_against_the_real_service(real_server, served_repo, tmp_path, payload):
    command = [sys.executable, "-m", "scripts.loadtest", "digits", "--url", real_server.url,
               "--repository", str(served_repo), "--payload", payload, "--concurrency", "1,8",
               "--duration", "0.6", "--warmup", "0.2", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "data: sklearn load_digits" in done.stdout
    steps = json.loads((tmp_path / "out" / "results.json").read_text())["steps"]
    for step in steps:
        assert step["requests_ok"] > 10 and step["errors_total"] == 0
        assert step["server_requests"] == pytest.approx(step["requests_ok"], rel=0.1)
        assert step["server_compute_ms"] > 0 and step["mean_batch_size"] >= 1


@pytest.mark.slow
def test_grpc_protocol_against_the_real_service(real_server, served_repo, tmp_path):
    command = [sys.executable, "-m", "scripts.loadtest", "digits", "--url", real_server.url,
               "--protocol", "grpc", "--grpc-url", real_server.grpc_target,
               "--repository", str(served_repo), "--concurrency", "1,8",
               "--duration", "0.6", "--warmup", "0.2", "--out", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["meta"]["url"] == real_server.grpc_target and doc["meta"]["payload"] == "grpc"
    for step in doc["steps"]:
        assert step["requests_ok"] > 10 and step["errors_total"] == 0
        # The server counted them (read from /metrics over HTTP): the calls really went over gRPC.
        assert step["server_requests"] == pytest.approx(step["requests_ok"], rel=0.1)
