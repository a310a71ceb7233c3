"""`--workers N` against real processes: one port, one view, one lifecycle.

Each test starts a supervisor with two workers on tiny models (a few seconds).
Workers are found as the supervisor's children, and asked directly over their
private Unix sockets, to check what each one did on its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from scripts.launcher import PROJECT_ROOT as ROOT
from scripts.launcher import ServerProcess
from tests.service.test_faults import _classify, _post_all, _wait_accepted, sequence_body
from tests.tiny_models import SEQUENCE_CONFIG, _save, affine_graph, make_repository

pytestmark = pytest.mark.slow

ADMIN = {"Authorization": "Bearer workers-secret"}
X = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def workers_of(pid: int) -> dict[int, int]:
    """{worker index: pid} of the supervisor's children, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            for var in environ:
                if var.startswith(b"ORTSERVE_WORKER_INDEX="):
                    found[int(var.split(b"=", 1)[1])] = int(entry.name)
    return found


def private_socket(worker_pid: int) -> str:
    for var in Path(f"/proc/{worker_pid}/environ").read_bytes().split(b"\0"):
        if var.startswith(b"ORTSERVE_WORKER_DIR="):
            index = workers_index(worker_pid)
            return f"{var.split(b'=', 1)[1].decode()}/worker-{index}.sock"
    raise AssertionError("not a worker")


def workers_index(worker_pid: int) -> int:
    for var in Path(f"/proc/{worker_pid}/environ").read_bytes().split(b"\0"):
        if var.startswith(b"ORTSERVE_WORKER_INDEX="):
            return int(var.split(b"=", 1)[1])
    raise AssertionError("not a worker")


def ask_worker(worker_pid: int, path: str) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=private_socket(worker_pid))
    with httpx.Client(transport=transport, base_url="http://worker", timeout=10) as client:
        return client.get(path)


def count(text: str, model: str = "affine", version: str = "2") -> float:
    for line in text.splitlines():
        if line.startswith(f'nv_inference_request_success{{model="{model}",version="{version}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repository(tmp_path / "repo")


@pytest.fixture
def server(repo):
    with ServerProcess(repo, env={"ORTSERVE_ADMIN_TOKEN": "workers-secret"}, args=["--workers", "2"]) as proc:
        yield proc


def test_two_workers_share_the_port_and_metrics_and_stats_add_up(server):
    workers = workers_of(server.pid)
    assert sorted(workers) == [0, 1]
    sent = 60
    for _ in range(sent):  # a fresh connection each: the kernel spreads them over both workers
        response = httpx.post(f"{server.url}/v2/models/affine/infer", json=X, timeout=10)
        assert response.status_code == 200 and response.json()["outputs"][0]["data"] == [12.0, 14.0, 16.0, 18.0]
    own = [count(ask_worker(pid, "/metrics").text) for pid in workers.values()]
    assert sum(own) == sent and min(own) > 0, own  # both served, and nothing is counted twice
    merged = httpx.get(f"{server.url}/metrics").text
    assert count(merged) == sent
    assert 'ortserve_model_info{model="affine",provider="CPUExecutionProvider",version="2"} 1' in merged
    assert f'ortserve_request_duration_seconds_count{{model="affine",version="2"}} {sent}' in merged
    stats = httpx.get(f"{server.url}/v2/models/affine/versions/2/stats").json()["model_stats"]
    assert [(s["name"], s["version"], s["inference_stats"]["success"]["count"]) for s in stats] == [
        ("affine", "2", sent)]
    ready = httpx.get(f"{server.url}/v2/health/ready")
    assert ready.status_code == 200 and ready.json()["workers"] == {"count": 2, "ready": 2, "restarting": 0}


def test_load_and_unload_reach_every_worker_before_the_call_returns(server, repo):
    unloaded = httpx.post(f"{server.url}/v2/repository/models/affine/unload", headers=ADMIN, timeout=30)
    assert unloaded.status_code == 200, unloaded.text
    # Fresh connections, so both workers are asked.
    assert {httpx.get(f"{server.url}/v2/models/affine/ready").status_code for _ in range(40)} == {503}
    _save(affine_graph(offset=100.0), repo / "affine" / "3" / "model.onnx")
    loaded = httpx.post(f"{server.url}/v2/repository/models/affine/load", headers=ADMIN, timeout=60)
    assert loaded.status_code == 200 and loaded.json()["versions"] == ["1", "2", "3"], loaded.text
    answers = [httpx.post(f"{server.url}/v2/models/affine/infer", json=X, timeout=10).json() for _ in range(100)]
    assert {(a["model_version"], tuple(a["outputs"][0]["data"])) for a in answers} == {("3", (102, 104, 106, 108))}
    for pid in workers_of(server.pid).values():
        assert ask_worker(pid, "/v2/models/affine").json()["versions"] == ["1", "2", "3"]


def kill(pid: int) -> None:
    """SIGKILL, and return once the supervisor has reaped it: every thread is gone, so its sockets are.

    (A zombie leader is not enough: its other threads may still hold the listener open.)
    A connection the kernel queued for it in the instant before is lost, as with any SIGKILL."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} survived SIGKILL")


def test_a_killed_worker_is_restarted_while_the_others_keep_the_server_ready(server):
    before = workers_of(server.pid)
    kill(before[1])
    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}/v2/health/ready", timeout=10)
        statuses.append(response.status_code if response.status_code == 200 else response.text)
        now = workers_of(server.pid)
        if now.get(1) not in (None, before[1]) and httpx.get(f"{server.url}/v2/health/ready").json()[
                "workers"]["ready"] == 2:
            break
        time.sleep(0.05)
    after = workers_of(server.pid)
    assert after[0] == before[0] and after[1] != before[1], (before, after)
    assert set(statuses) == {200}, statuses  # ready throughout, on worker 0 alone meanwhile
    assert httpx.get(f"{server.url}/v2/health/ready").json()["workers"] == {"count": 2, "ready": 2, "restarting": 0}
    assert "worker exited; restarting it" in server.log()


def wait_restarted(server, index: int, old_pid: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.proc.poll() is None, f"the supervisor exited:\n{server.log()[-3000:]}"
        pid = workers_of(server.pid).get(index)
        if pid not in (None, old_pid) and httpx.get(f"{server.url}/v2/health/ready").json()["workers"]["ready"] == 2:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"worker {index} was not restarted:\n{server.log()[-3000:]}")


def test_a_restarted_worker_keeps_what_an_admin_unloaded_unloaded(server):
    assert httpx.post(f"{server.url}/v2/repository/models/affine/unload", headers=ADMIN).status_code == 200
    before = workers_of(server.pid)
    kill(before[1])
    restarted = wait_restarted(server, 1, before[1])
    assert ask_worker(restarted, "/v2/models/affine/ready").status_code == 503
    assert ask_worker(restarted, "/v2/models/sequence/ready").status_code == 200
    # Loaded again through the group: a later restart loads it as well.
    assert httpx.post(f"{server.url}/v2/repository/models/affine/load", headers=ADMIN).status_code == 200
    kill(restarted)
    again = wait_restarted(server, 1, restarted)
    assert ask_worker(again, "/v2/models/affine/ready").status_code == 200


def test_sigterm_drains_every_worker_and_loses_no_request(tmp_path):
    repo = tmp_path / "repo"
    from tests.tiny_models import sequence_graph, write_model
    write_model(repo, SEQUENCE_CONFIG, sequence_graph())
    proc = ServerProcess(repo, args=["--workers", "2"])
    proc.wait_ready()
    workers = workers_of(proc.pid)
    sent = 64

    async def scenario():
        tasks, client = await _post_all(proc.url, sequence_body(400), sent)
        await _wait_accepted(proc.url, sent, 2 * SEQUENCE_CONFIG["max_batch_size"])
        proc.proc.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*tasks)
        await client.aclose()
        return results

    try:
        results = asyncio.run(scenario())
        code = proc.terminate(timeout=60)
    finally:
        proc.terminate()
    outcomes = [_classify(r) for r in results]
    assert outcomes == ["200"] * sent, {o: outcomes.count(o) for o in set(outcomes)}
    assert code == 0, proc.log()[-3000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers.values())


def test_startup_fails_loudly_when_a_worker_cannot_start(repo, tmp_path):
    hook = tmp_path / "hook"  # Python imports sitecustomize at startup: worker 1 exits before it serves
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, sys\nif os.environ.get('ORTSERVE_WORKER_INDEX') == '1':\n    sys.exit(7)\n")
    proc = ServerProcess(repo, args=["--workers", "2"], env={"PYTHONPATH": f"{hook}:{ROOT}"})
    code = proc.proc.wait(60)
    assert code == 3, proc.log()[-3000:]
    assert "worker failed to start; stopping the others" in proc.log()
    assert workers_of(proc.pid) == {}


def test_a_taken_grpc_port_is_refused_before_any_worker_starts(repo):
    with socket.socket() as taken:  # every worker serves gRPC on one port, reserved like HTTP's
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = ServerProcess(repo, args=["--workers", "2", "--grpc-port", str(taken.getsockname()[1])])
        code = proc.proc.wait(60)
    assert code == 3 and "cannot bind the gRPC port" in proc.log(), proc.log()[-3000:]
    assert workers_of(proc.pid) == {}


def test_a_port_another_server_group_holds_is_refused_at_startup(server, repo):
    port = server.port
    other = ServerProcess(repo, args=["--workers", "2", "--port", str(port)])
    code = other.proc.wait(60)
    assert code == 3 and "cannot bind the HTTP port" in other.log(), other.log()[-2000:]
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200  # the first group is untouched


def test_a_worker_killed_the_moment_it_has_started_is_restarted_not_taken_for_a_failed_start(repo):
    """The supervisor polls for started markers every 50 ms: a worker that wrote its marker
    and died within that window once made it stop the whole group as a failed start."""
    proc = ServerProcess(repo, args=["--workers", "2"])
    try:
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline:
            pid = workers_of(proc.pid).get(1)
            if pid is not None:
                try:
                    if Path(private_socket(pid)).with_suffix(".started").exists():
                        victim = pid
                except (OSError, AssertionError):
                    pass
            time.sleep(0.001)
        assert victim is not None, proc.log()[-3000:]
        kill(victim)
        wait_restarted(proc, 1, victim)
        assert proc.proc.poll() is None, proc.log()[-3000:]
        assert "worker failed to start" not in proc.log()
        assert "worker exited; restarting it" in proc.log()
    finally:
        proc.terminate()
