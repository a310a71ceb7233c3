"""The compose deployment on a real Docker engine: build, serve, drain, scale, fail over, monitor.

Runs wherever a Docker engine answers, or can be started (root: scripts/ci/docker-engine.sh, which
this module then stops again); otherwise it skips with the reason, and fails instead where
CI=true or ORTSERVE_REQUIRE_DOCKER=1 (.ci/run sets it after starting the engine). Base images come
from Debian's packages (scripts/docker-base.sh, cached by a hash of their inputs), so no image
registry is needed. Figures (image size, time to ready, latency across a crash) are printed as
`deploy check:` lines. Everything it creates is named by its compose project or labelled
`ortserve-check=<run>`, and removed at the end: tests/deploy/engine.py has the mechanics.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.deploy import engine as eng
from tests.deploy.conftest import COMPOSE, ROOT, in_ci, seconds
from tests.deploy.test_monitoring import DASHBOARDS, concrete, panels

pytestmark = pytest.mark.slow

RUN = f"{os.getpid()}-{int(time.time()) % 100000}"
PROJECT = f"ortserve-check-{RUN}"
MODEL = "digits_lenet"
INFER = f"/v2/models/{MODEL}/infer"
# Batches of 8 digits per request: each takes long enough that the drain has work in flight.
BODY = json.dumps({"inputs": [{"name": "image", "shape": [8, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 512}]})
JSON = {"Content-Type": "application/json"}
# Panels that must show data after the check's own load (the others may be empty: no errors).
DATA_PANELS = {"Replicas scraped", "Requests/s (all models)", "Requests/s per replica",
               "Latency p50 / p99 by model", "Batch size by model", "Compute time p50 / p99 per batch"}


@pytest.fixture(scope="module")
def say(request):
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():  # shown even with -q, like a warning
                reporter.write_line(f"deploy check: {line}")

    return write


@pytest.fixture(scope="module")
def engine():
    pidfile = Path(f"/run/ortserve-check-dockerd-{RUN}.pid")
    reason = ""
    if not eng.answers():
        if os.geteuid() != 0:
            reason = "no Docker engine answers, and starting dockerd needs root (scripts/ci/docker-engine.sh start)"
        else:
            env = {**os.environ, "ORTSERVE_DOCKERD_PIDFILE": str(pidfile)}
            started = subprocess.run(["bash", str(eng.ENGINE_SCRIPT), "start"], env=env, capture_output=True,
                                     text=True, timeout=600)
            if started.returncode != 0 or not eng.answers():
                said = " / ".join((started.stderr or started.stdout).strip().splitlines()[-3:])
                reason = f"no Docker engine could be started: {said}"
    if not reason and eng.compose_command() is None:
        reason = "docker-compose (Debian's) or the compose plugin is missing"
    if reason:
        if in_ci() or os.environ.get("ORTSERVE_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason} (the deployment check must run here)")
        pytest.skip(reason)
    yield
    if pidfile.exists():  # only a dockerd this module started
        subprocess.run(["bash", str(eng.ENGINE_SCRIPT), "stop"], env={**os.environ, "ORTSERVE_DOCKERD_PIDFILE": str(pidfile)},
                       capture_output=True, timeout=120)
        pidfile.with_suffix(".log").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def images(engine, say):
    started = time.monotonic()
    base = eng.base_images()
    base_s = time.monotonic() - started
    built = {target: eng.build(target, f"ortserve:{target}", base["PYTHON_IMAGE"]) for target in ("cpu", "loadtest")}
    say(f"base images ready in {base_s:.0f} s ({', '.join(base.values())})")
    say("built " + ", ".join(f"ortserve:{t} in {s:.0f} s ({eng.size_mb('ortserve:' + t):.0f} MB)" for t, s in built.items()))
    return base


@pytest.fixture(scope="module")
def server(images):
    name = f"{PROJECT}-server"
    started = time.monotonic()
    eng.docker("run", "--detach", "--name", name, "--label", f"{eng.LABEL}={RUN}", "--read-only", "--tmpfs", "/tmp",
               "--publish", "127.0.0.1::8000", "--env", "ORTSERVE_ACCESS_LOG=true", "ortserve:cpu")
    try:
        port = int(eng.docker("port", name, "8000/tcp").stdout.split(":")[-1])
        eng.wait_for(lambda: eng.http_get(port, "/v2/health/ready")[0] == 200, 120, "/v2/health/ready")
        yield {"name": name, "port": port, "started": started, "ready_s": time.monotonic() - started}
    finally:
        eng.docker("rm", "--force", "--volumes", name, check=False)


def test_image_runs_non_root_on_a_read_only_root_and_turns_healthy(server, say):
    name = server["name"]
    assert eng.inspect(name)["Config"]["User"] == "10001:10001"
    status = eng.docker("exec", name, "cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == ["10001"] * 4, f"the server (PID 1) runs as {uids}"
    denied = eng.docker("exec", name, "touch", "/app/models/repository/x", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr, denied.stderr
    assert eng.docker("exec", name, "touch", "/tmp/x", check=False).returncode == 0, "the tmpfs /tmp is writable"
    probe = "import importlib.util as u; print(u.find_spec('torch') is None, u.find_spec('onnxruntime') is not None)"
    assert eng.docker("exec", name, "python", "-c", probe).stdout.split() == ["True", "True"]
    assert eng.published(name) == [("127.0.0.1", "8000/tcp")]
    status_code, body = eng.http_get(server["port"], f"/v2/models/{MODEL}")
    assert status_code == 200 and json.loads(body)["name"] == MODEL
    eng.wait_for(lambda: eng.health(name) == "healthy", 60, "the image's HEALTHCHECK to pass", interval=0.5)
    healthy_s = time.monotonic() - server["started"]
    say(f"ortserve:cpu {eng.size_mb('ortserve:cpu'):.0f} MB, ready {server['ready_s']:.1f} s after `docker run`, "
        f"healthy after {healthy_s:.0f} s (HEALTHCHECK interval 10 s), uid 10001, read-only root")


def test_docker_stop_answers_every_accepted_request(server, compose, say):
    name, port = server["name"], server["port"]
    grace = seconds(compose["x-ortserve-cpu"]["stop_grace_period"])
    load = eng.KeepAliveLoad(port, INFER, BODY.encode(), JSON, clients=16, seconds=60)
    load.start()
    eng.wait_for(lambda: sum(o.status == 200 for o in list(load.outcomes)) >= 200, 30, "load on the server")
    stop_began = time.monotonic()
    eng.docker("stop", "--time", str(int(grace)), name, timeout=grace + 30)
    stop_s = time.monotonic() - stop_began
    load.join()
    state = eng.inspect(name)["State"]
    assert state["ExitCode"] == 0 and not state["OOMKilled"], state
    assert stop_s < grace, f"docker stop took {stop_s:.1f} s: the grace period ({grace:.0f} s) ran out"
    accepted = eng.access_log_ids(name, "drain-")
    answered = {o.rid for o in load.outcomes if o.status == 200}
    assert set(accepted.values()) == {200}, f"the server answered accepted requests with {set(accepted.values())}"
    lost = sorted(set(accepted) - answered)
    assert not lost, f"{len(lost)} accepted requests got no answer, e.g. {lost[:5]}"
    other = [(o.rid, o.status) for o in load.outcomes if o.status not in (0, 200)]
    assert not other, f"answers other than 200 during the drain: {other[:5]}"
    after = [o for o in load.outcomes if o.status == 200 and o.done > stop_began]
    assert after, "no request was answered after `docker stop` began: the stop did not happen under load"
    # Tries after the listener closed never reach the server: Docker's port proxy still accepts
    # on the host and then resets them (refused once the container is gone). None is in the log.
    unanswered = sum(o.status == 0 for o in load.outcomes)
    say(f"drain: {len(answered)} requests answered, {len(after)} of them after `docker stop` began; "
        f"0 of {len(accepted)} accepted lost; {unanswered} tries after the listener closed, none of them "
        f"seen by the server; exit 0 after {stop_s:.1f} s (grace {grace:.0f} s)")


# ---------------------------------------------------------------------------------------------
# docker compose --profile scale --profile monitoring


class Stack:
    def __init__(self, base: dict[str, str]) -> None:
        self.lb_port, self.prometheus_port = eng.free_port(), eng.free_port()
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DOCKER_HOST")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update(base, ORTSERVE_LB_PORT=str(self.lb_port), PROMETHEUS_PORT=str(self.prometheus_port))
        profiles = [a for p in ("scale", "monitoring", "loadtest") for a in ("--profile", p)]
        self.compose = [*eng.compose_command(), "--file", str(COMPOSE), "--project-name", PROJECT, *profiles]
        self.runs = 0
        self.replicas: list[str] = []

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return eng.run([*self.compose, *args], timeout=timeout, env=self.env, cwd=ROOT)

    def containers(self, service: str | None = None) -> list[str]:
        filters = ["--filter", f"label=com.docker.compose.project={PROJECT}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        return sorted(eng.docker("ps", "--all", *filters, "--format", "{{.Names}}").stdout.split())

    def loadtest(self, duration: float) -> subprocess.Popen:
        """The `loadtest` service through the balancer at c=16, into its own `loadtest-results` volume."""
        self.runs += 1
        cmd = [*self.compose, "run", "--no-deps", "-T", "--name", f"{PROJECT}-loadtest-{self.runs}", "loadtest", MODEL,
               "--url", "http://lb:8080", "--concurrency", "16", "--duration", str(duration), "--warmup", "1",
               "--allow-remote", "--out", "/results"]
        return subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def finish(self, proc: subprocess.Popen, timeout: float = 180) -> dict:
        """The load test's results.json (its one step), copied out of the finished container."""
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, f"the load test failed:\n{out[-3000:]}"
        name = f"{PROJECT}-loadtest-{self.runs}"
        try:
            tar = subprocess.run([eng.DOCKER, "cp", f"{name}:/results/results.json", "-"], capture_output=True,
                                 timeout=60, check=True).stdout
        finally:
            eng.docker("rm", "--force", name, check=False)
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            return json.load(archive.extractfile("results.json"))["steps"][0]

    def down(self) -> None:
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180)

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={PROJECT}"
        kinds = {"containers": ("ps", "--all"), "networks": ("network", "ls"), "volumes": ("volume", "ls")}
        found = {k: eng.docker(*cmd, "--quiet", "--filter", label).stdout.split() for k, cmd in kinds.items()}
        found["checked containers"] = eng.docker("ps", "--all", "--quiet", "--filter", f"label={eng.LABEL}={RUN}").stdout.split()
        return {k: v for k, v in found.items() if v}


@pytest.fixture(scope="module")
def stack(images):
    stack = Stack(images)
    try:
        # Compose starts lb only once every replica's healthcheck passes (depends_on: service_healthy).
        stack.run("up", "--detach", "--no-build", "replica", "lb", "prometheus")
        stack.replicas = stack.containers("replica")
        eng.wait_for(lambda: eng.health(stack.containers("lb")[0]) == "healthy", 60, "lb's healthcheck", interval=0.5)
        yield stack
    finally:
        stack.down()
        for kind, ids in stack.leftovers().items():
            eng.docker(*({"networks": ("network", "rm"), "volumes": ("volume", "rm")}.get(kind, ("rm", "-f"))), *ids,
                       check=False)


def test_scale_three_replicas_behind_nginx_share_the_load(stack, say):
    assert len(stack.replicas) == 3 and all(eng.health(r) == "healthy" for r in stack.replicas)
    before = {r: eng.counter(r, "nv_inference_request_success", MODEL) for r in stack.replicas}
    row = stack.finish(stack.loadtest(20))
    assert row["errors_total"] == 0 and row["requests_ok"] > 0, row["errors"]
    served = {r: eng.counter(r, "nv_inference_request_success", MODEL) - before[r] for r in stack.replicas}
    assert all(n > 0 for n in served.values()), f"a replica served nothing: {served}"
    shares = ", ".join(f"{n / sum(served.values()):.0%}" for n in served.values())
    say(f"scale: 3 replicas, 20 s at c=16 through lb: {row['requests_ok']} requests, {row['throughput_rps']:.0f} req/s, "
        f"0 errors, p99 {row['p99_ms']:.1f} ms, max {row['max_ms']:.0f} ms; shares {shares}")


def test_prometheus_scrapes_every_replica_and_the_dashboard_queries_answer(stack, say):
    def targets() -> list[dict]:
        _, body = eng.http_get(stack.prometheus_port, "/api/v1/targets?state=active")
        active = json.loads(body or b'{"data": {"activeTargets": []}}')["data"]["activeTargets"]
        return [t for t in active if t["labels"]["job"] == "ortserve"]

    eng.wait_for(lambda: len(targets()) == 3 and all(t["health"] == "up" for t in targets()), 60,
                 "3 ortserve targets up in Prometheus", interval=1)
    assert {t["labels"]["service"] for t in targets()} == {"replica"}
    series = eng.prometheus_query(stack.prometheus_port, f'nv_inference_count{{model="{MODEL}"}}')["result"]
    assert len(series) == 3 and all(float(s["value"][1]) > 0 for s in series), series
    checked = 0
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                data = eng.prometheus_query(stack.prometheus_port, concrete(target["expr"]))
                checked += 1
                if panel["title"] in DATA_PANELS:
                    assert data["result"], f"{path.name}: panel {panel['title']!r} shows nothing: {target['expr']}"
    say(f"monitoring: Prometheus ({stack.env['PROMETHEUS_IMAGE']}) scrapes 3/3 replicas up; "
        f"{checked} Grafana dashboard queries answered by it, {len(DATA_PANELS)} panels with data")


def upstream_errors(lb: str, since: float, address: str, kind: str = "") -> int:
    """nginx's error-log lines since `since` (epoch s) about upstream `address`, containing `kind`."""
    logs = eng.docker("logs", "--since", str(int(since) - 1), lb)
    return sum(f"upstream: \"http://{address}:" in line and "[error]" in line and kind in line
               for line in logs.stderr.splitlines())


def fault_under_load(stack: Stack, victim: str, fault, seconds_before: float = 4.0) -> tuple[dict, float]:
    """A 20 s load test through lb with `fault` `seconds_before` into its measured part (after its
    first requests and 1 s of warm-up): (its results, when the fault struck)."""
    served = eng.counter(victim, "nv_inference_request_success", MODEL)
    proc = stack.loadtest(20)
    eng.wait_for(lambda: eng.counter(victim, "nv_inference_request_success", MODEL) > served, 60,
                 "the load test's first requests")
    time.sleep(1 + seconds_before)
    struck = time.time()
    fault()
    return stack.finish(proc), struck


def address_of(container: str) -> str:
    return next(iter(eng.inspect(container)["NetworkSettings"]["Networks"].values()))["IPAddress"]


def test_failover_crash_of_a_replica_under_load(stack, say):
    victim, lb = stack.replicas[1], stack.containers("lb")[0]
    restarts = eng.inspect(victim)["RestartCount"]
    row, struck = fault_under_load(stack, victim, lambda: eng.crash(victim, stack.env["PYTHON_IMAGE"]))
    assert row["errors_total"] == 0, f"failed requests across the crash: {row['errors']}"
    assert upstream_errors(lb, struck, address_of(victim)) > 0, "nginx saw no failure: the crash missed the load"
    eng.wait_for(lambda: eng.inspect(victim)["RestartCount"] == restarts + 1, 30, "the restart policy")
    eng.wait_for(lambda: eng.health(victim) == "healthy", 90, "the restarted replica's healthcheck", interval=0.5)
    before, healthy = eng.counter(victim, "nv_inference_request_success", MODEL), time.monotonic()

    def served_again() -> bool:
        # nginx skips a replica for fail_timeout (10 s) after its last failure, which may have
        # been a refused connection while it restarted: short bursts until it is tried again.
        burst = eng.KeepAliveLoad(stack.lb_port, INFER, BODY.encode(), JSON, clients=4, seconds=1)
        burst.start()
        burst.join()
        assert {o.status for o in burst.outcomes} == {200}
        return eng.counter(victim, "nv_inference_request_success", MODEL) > before

    eng.wait_for(served_again, 30, "the restarted replica to get traffic again", interval=0)
    say(f"failover, kill -9 of a replica 4 s into 20 s at c=16: {row['requests_ok']} requests, 0 failed, "
        f"p99 {row['p99_ms']:.1f} ms, max {row['max_ms']:.0f} ms; restarted by its policy, healthy, serving again "
        f"{time.monotonic() - healthy:.0f} s after it turned healthy")


def test_docker_kill_is_a_manual_stop_and_the_replica_stays_down(stack, say):
    victim, lb = stack.replicas[2], stack.containers("lb")[0]
    restarts, address = eng.inspect(victim)["RestartCount"], address_of(victim)
    row, struck = fault_under_load(stack, victim, lambda: eng.docker("kill", victim))
    assert row["errors_total"] == 0, f"failed requests after docker kill: {row['errors']}"
    state = eng.inspect(victim)  # 16 s later: a crash would have been restarted within a second
    assert (state["State"]["Status"], state["State"]["ExitCode"], state["RestartCount"]) == ("exited", 137, restarts)
    # Its address no longer answers: once fail_timeout (10 s) has passed, nginx tries it again
    # and that request waits for proxy_connect_timeout before its retry.
    timeouts = upstream_errors(lb, struck, address, "timed out")
    say(f"docker kill of a replica 4 s into 20 s at c=16: {row['requests_ok']} requests, 0 failed, "
        f"p99 {row['p99_ms']:.1f} ms, max {row['max_ms']:.0f} ms ({timeouts} connect timeout(s) to it); "
        f"the replica stays down (a manual stop: no restart)")
    eng.docker("start", victim)
    eng.wait_for(lambda: eng.health(victim) == "healthy", 60, "the replica after docker start", interval=0.5)


def test_ports_listen_on_loopback_and_containers_share_only_the_project_network(stack):
    for name in stack.containers():
        info = eng.inspect(name)
        assert set(info["NetworkSettings"]["Networks"]) == {f"{PROJECT}_default"}, name
        if name in stack.replicas:
            assert info["HostConfig"]["ReadonlyRootfs"] and info["Config"]["User"] == "10001:10001", name
        for host, port in eng.published(name):
            assert host == "127.0.0.1", f"{name} publishes {port} on {host}"
    assert {port for name in stack.containers() for _, port in eng.published(name)} == {"8080/tcp", "9090/tcp"}


def test_cleanup_leaves_nothing_behind(server, stack):
    eng.docker("rm", "--force", "--volumes", server["name"])
    stack.down()
    assert stack.leftovers() == {}
