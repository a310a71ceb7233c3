"""Replay the CPU image outside Docker, from the Dockerfile itself, and run what it runs.

No Docker engine here, so the image is rebuilt as a directory tree ("rootfs") in a temporary
folder: the files each COPY names (filtered by .dockerignore, as the daemon would receive them)
are copied to the same paths under rootfs, and the builder's RUN lines are executed verbatim with
/bin/sh -c, image paths (/opt/venv, /src, /app, ...) mapped under rootfs and `python` being a
CPython 3.11 like the image's. The server then starts with the image's exact CMD, environment
(ENV) and working directory; host/ports are overridden through ORTSERVE_HOST/ORTSERVE_PORT/ORTSERVE_GRPC_PORT only,
as an orchestrator would. When the tests run as root the server runs as the image's USER (uid
10001, via setpriv) over root-owned files, i.e. on an effectively read-only root filesystem, with
only TMPDIR writable. Checks: /v2/health/ready answers, the image's HEALTHCHECK command exits 0
against it (and non-zero once it is gone), SIGTERM ends it cleanly (exit 0), no torch and no
onnxruntime-gpu in the environment. The `loadtest` target is replayed on top and its compose
command runs against the server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.deploy import dockerfile as df
from tests.deploy.conftest import COMPOSE, DOCKERIGNORE, ROOT, in_ci

pytestmark = pytest.mark.slow

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # python:3.11-slim's PATH
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/etc", "/dev", "/proc", "/sys", "/var", "/run")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _world_accessible(path: Path) -> bool:
    """Whether another uid can execute `path` (every parent directory traversable)."""
    path = path.resolve()
    for parent in [*reversed(path.parents), path]:
        mode = parent.stat().st_mode
        need = stat.S_IXOTH if parent != path or parent.is_dir() else stat.S_IXOTH | stat.S_IROTH
        if not mode & need:
            return False
    return True


def _python311(drop_privileges: bool) -> Path:
    """A CPython 3.11 with venv support to stand in for the image's /usr/local/bin/python."""
    candidates = [Path("/usr/local/bin/python3.11"), Path("/usr/bin/python3.11"), Path(sys._base_executable)]
    for candidate in candidates:
        if not candidate.exists():
            continue
        probe = subprocess.run(
            [str(candidate), "-c", "import sys, venv, ensurepip; print(sys.version_info[:2] == (3, 11))"],
            capture_output=True, text=True,
        )
        if probe.stdout.strip() != "True":
            continue
        if drop_privileges and not _world_accessible(candidate):
            continue
        return candidate
    pytest.fail(f"no CPython 3.11 with venv/ensurepip among {candidates} (apt-get install python3.11-venv)")


class Rootfs:
    """A directory standing in for the image's root filesystem."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.roots: set[str] = set()

    def add_root(self, image_path: str) -> None:
        image_path = os.path.normpath(image_path)
        if image_path != "/" and not image_path.startswith(SYSTEM_DIRS):
            self.roots.add(image_path)

    def host(self, image_path: str) -> Path:
        return self.base / os.path.normpath(image_path).lstrip("/")

    def map(self, text: str) -> str:
        """Rewrite image paths in a command or value to their rootfs location."""
        for root in sorted(self.roots, key=len, reverse=True):
            text = re.sub(rf"(?<![\w./-]){re.escape(root)}(?=$|[/\s:'\";&|)])", str(self.host(root)), text)
        return text


class ImageReplay:
    def __init__(self, tmp: Path, stages: list[df.Stage], drop_privileges: bool) -> None:
        self.tmp = tmp
        self.stages = stages
        self.rootfs = Rootfs(tmp / "rootfs")
        self.rules = df.read_dockerignore(DOCKERIGNORE)
        self.drop = drop_privileges
        self.python = _python311(drop_privileges)
        self.shim = tmp / "shim"
        self.shim.mkdir()
        (self.shim / "python").symlink_to(self.python)
        (self.shim / "python3").symlink_to(self.python)
        self.log = tmp / "build.log"
        self.done: set[str] = set()
        for st in stages:
            for ins in st.instructions:
                if ins.keyword == "WORKDIR":
                    self.rootfs.add_root(ins.rest)
                elif ins.keyword in ("COPY", "ADD"):
                    for copy in df.copies(st):
                        self.rootfs.add_root(copy.dest.rstrip("/") if copy.dest.startswith("/") else "/")
                        for src in copy.sources:
                            if src.startswith("/"):
                                self.rootfs.add_root(src)
                elif ins.keyword == "RUN":
                    for m in re.finditer(r"-m venv\s+(\S+)|mkdir(?:\s+-p)?\s+(\S+)", ins.rest):
                        self.rootfs.add_root(m.group(1) or m.group(2))

    def build_env(self, chain: list[df.Stage]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV")}
        image_env = df.stage_env(chain, {"PATH": f"{self.shim}:{BASE_PATH}"})
        env.update({k: self.rootfs.map(v) for k, v in image_env.items()})
        return env

    def replay(self, target: str) -> None:
        """COPY and RUN of every stage `target` needs, in order (COPY --from is the shared rootfs)."""
        chain = df.chain(self.stages, target)
        needed: list[df.Stage] = []
        for st in chain:
            for copy in df.copies(st):
                if copy.from_stage:
                    for dep in df.chain(self.stages, copy.from_stage):
                        if dep not in needed:
                            needed.append(dep)
        for st in chain:
            if st not in needed:
                needed.append(st)
        for st in needed:
            if st.name in self.done:
                continue
            self.done.add(st.name)
            sub_chain = df.chain(self.stages, st.name)
            cwd = "/"
            for ins in st.instructions:
                if ins.keyword == "WORKDIR":
                    cwd = os.path.normpath(os.path.join(cwd, ins.rest))
                    self.rootfs.host(cwd).mkdir(parents=True, exist_ok=True)
                elif ins.keyword == "COPY":
                    copy = next(c for c in df.copies(st) if c.line == ins.line)
                    if not copy.from_stage:
                        self._copy(copy, cwd)
                elif ins.keyword == "RUN":
                    if re.search(r"\b(useradd|groupadd)\b", ins.rest):
                        # Users are emulated by running as the USER uid; never touch the host's.
                        assert not re.search(r"\bpip\b", ins.rest), "keep user creation in its own RUN"
                        continue
                    if re.search(r"\bapt-get install\b", ins.rest):
                        # Debian packages (the heatmap fonts) go to the host's /usr by the install
                        # scripts; never apt-get on the host from here.
                        assert not re.search(r"\bpip\b", ins.rest), "keep apt-get in its own RUN"
                        continue
                    self._run(ins, cwd, self.build_env(sub_chain[: sub_chain.index(st) + 1]))

    def _copy(self, copy: df.Copy, cwd: str) -> None:
        dest = copy.dest if copy.dest.startswith("/") else os.path.join(cwd, copy.dest)
        for source in copy.sources:
            files = df.copy_sources(ROOT, self.rules, source)
            assert files, f"Dockerfile:{copy.line}: COPY {source} finds nothing in the build context"
            src_root = source.rstrip("/")
            is_dir = (ROOT / src_root).is_dir()
            for rel in files:
                if is_dir:
                    target = Path(dest) / os.path.relpath(rel, src_root)
                elif copy.dest.endswith("/") or len(copy.sources) > 1 or any(c in source for c in "*?["):
                    target = Path(dest) / Path(rel).name
                else:
                    target = Path(dest)
                host = self.rootfs.host(str(target))
                host.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, host)

    def _run(self, ins: df.Instruction, cwd: str, env: dict[str, str]) -> None:
        command = self.rootfs.map(ins.rest)
        if os.geteuid() != 0:
            command = re.sub(r"\bchown\b", "true", command)  # needs root; ownership checked elsewhere
        with open(self.log, "a") as log:
            log.write(f"\n$ RUN (Dockerfile:{ins.line}) {command}\n")
            log.flush()
            result = subprocess.run(
                ["/bin/sh", "-c", command], cwd=self.rootfs.host(cwd), env=env,
                stdout=log, stderr=subprocess.STDOUT, timeout=900,
            )
        assert result.returncode == 0, (
            f"Dockerfile:{ins.line} RUN failed ({result.returncode}):\n{self.log.read_text()[-4000:]}"
        )

    # -- running the image ----------------------------------------------------------------------

    def runtime_env(self, target: str, overrides: dict[str, str]) -> dict[str, str]:
        chain = df.chain(self.stages, target)
        image_env = df.stage_env(chain, {"PATH": BASE_PATH, "LANG": "C.UTF-8"})
        env = {k: self.rootfs.map(v) for k, v in image_env.items()}
        env["HOME"] = str(self.rootfs.host("/app"))  # useradd --home-dir /app (not writable)
        env["TMPDIR"] = str(self.tmpdir)
        env.update(overrides)
        return env

    @property
    def tmpdir(self) -> Path:
        path = self.rootfs.host("/tmp")
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o1777)
        return path

    def user_prefix(self, target: str) -> list[str]:
        if not self.drop:
            return []
        user = df.last(df.chain(self.stages, target), "USER").rest
        uid, _, gid = user.partition(":")
        return ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups", "--"]

    def popen(self, target: str, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        chain = df.chain(self.stages, target)
        cwd = self.rootfs.host(df.workdir(chain))
        # Resolve the program on the image's PATH, like the runtime does for exec form.
        program = shutil.which(argv[0], path=env["PATH"])
        assert program, f"{argv[0]} not found on the image PATH {env['PATH']}"
        return subprocess.Popen(
            [*self.user_prefix(target), program, *argv[1:]], cwd=cwd, env=env,
            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def run(self, target: str, argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        chain = df.chain(self.stages, target)
        program = shutil.which(argv[0], path=env["PATH"])
        return subprocess.run(
            [*self.user_prefix(target), program, *argv[1:]], cwd=self.rootfs.host(df.workdir(chain)),
            env=env, capture_output=True, text=True, timeout=timeout,
        )


def _repository_has_models(path: Path) -> bool:
    return any(path.glob("*/config.json"))


@pytest.fixture(scope="module")
def image(stages):
    drop = os.geteuid() == 0 and shutil.which("setpriv") is not None
    # Not under pytest's 0700 tmp folders: the image user must be able to read the tree.
    tmp = Path(tempfile.mkdtemp(prefix="ortserve-image-"))
    tmp.chmod(0o755)
    replay = ImageReplay(tmp, stages, drop)
    try:
        replay.replay("cpu")
        yield replay
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def repository(image) -> dict[str, str]:
    """The baked repository when it holds models; otherwise tiny models (README of the test)."""
    baked = image.rootfs.host("/app/models/repository")
    if _repository_has_models(baked):
        return {}
    if in_ci():
        pytest.fail("models/repository holds no model: the image would serve nothing")
    from tests.tiny_models import make_repository

    repo = make_repository(image.tmp / "tiny-repo")
    for p in [repo, *repo.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return {"ORTSERVE_REPOSITORY": str(repo)}


@pytest.fixture(scope="module")
def server(image, repository):
    port, grpc_port = _free_port(), _free_port()
    # The gRPC port moves too: the image's 8001 may be held by another server on this machine.
    env = image.runtime_env("cpu", {"ORTSERVE_HOST": "127.0.0.1", "ORTSERVE_PORT": str(port),
                                    "ORTSERVE_GRPC_PORT": str(grpc_port), **repository})
    cmd = df.last(df.chain(image.stages, "cpu"), "CMD").json_args()
    log = image.tmp / "server.log"
    proc = image.popen("cpu", cmd, env, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"not ready after 180 s:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    info = {"proc": proc, "url": url, "port": port, "grpc_port": grpc_port, "env": env, "log": log}
    yield info
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_environment_is_the_cpu_one(image):
    pip = image.rootfs.host("/opt/venv/bin/python")
    out = subprocess.run([str(pip), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    names = {d["name"].lower() for d in json.loads(out.stdout)}
    assert "ortserve" in names and "onnxruntime" in names
    assert "onnxruntime-gpu" not in names
    assert not {n for n in names if n.startswith(("torch", "nvidia-"))}, "torch/CUDA wheels in the CPU image"


def test_server_runs_as_the_image_user(image, server):
    if not image.drop:
        pytest.skip("not root: the server ran as the current user (no uid switch possible)")
    status = Path(f"/proc/{server['proc'].pid}/status").read_text()
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
    assert uid == df.last(df.chain(image.stages, "cpu"), "USER").rest.split(":")[0]


def test_grpc_answers_from_the_image(server):
    """The installed package carries the committed stubs: gRPC works with no compiler in the image."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{server['grpc_port']}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_ready_and_metrics(server):
    with urllib.request.urlopen(f"{server['url']}/v2/health/ready", timeout=5) as r:
        assert r.status == 200 and json.load(r)["ready"] is True
    with urllib.request.urlopen(f"{server['url']}/v2/health/live", timeout=5) as r:
        assert r.status == 200
    with urllib.request.urlopen(f"{server['url']}/metrics", timeout=5) as r:
        assert "ortserve_" in r.read().decode()


def test_healthcheck_command_passes(image, server):
    _, command = df.healthcheck(df.chain(image.stages, "cpu"))
    result = image.run("cpu", command, server["env"], timeout=30)
    assert result.returncode == 0, result.stderr


def test_compose_healthcheck_is_the_image_one(image, server):
    compose = yaml.safe_load(COMPOSE.read_text())
    test = compose["services"]["serve"]["healthcheck"]["test"]
    _, command = df.healthcheck(df.chain(image.stages, "cpu"))
    assert test[0] == "CMD" and test[1:] == command
    assert image.run("cpu", test[1:], server["env"], timeout=30).returncode == 0


def test_loadtest_target_against_the_server(image, server, compose):
    """The `loadtest` image (replayed over the cpu one) running compose's loadtest command."""
    service = compose["services"]["loadtest"]
    args = list(service["command"])
    model = args[0]
    if not (ROOT / "models" / "repository" / model / "config.json").exists():
        if in_ci():
            pytest.fail(f"compose's loadtest targets {model!r}, which models/repository does not have")
        pytest.skip(f"models/repository has no {model!r} yet")
    image.replay("loadtest")

    def set_opt(name: str, value: str) -> None:
        args[args.index(name) + 1] = value

    set_opt("--url", server["url"])  # http://lb:8080 in compose
    set_opt("--duration", "1")
    set_opt("--concurrency", "1,2")
    out = image.tmp / "results"
    out.mkdir()
    out.chmod(0o777)
    set_opt("--out", str(out))
    entry = df.last(df.chain(image.stages, "loadtest"), "ENTRYPOINT").json_args()
    env = image.runtime_env("loadtest", {})
    env.pop("ORTSERVE_HOST"), env.pop("ORTSERVE_PORT")
    result = image.run("loadtest", [*entry, *args], env, timeout=300)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert (out / "results.json").exists()


def test_sigterm_drains_and_exits_cleanly(image, server):
    """Last: stops the server. SIGTERM goes to the CMD process itself (exec form = PID 1)."""
    proc = server["proc"]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=float(server["env"].get("ORTSERVE_DRAIN_TIMEOUT_S", 30)) + 15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the server ignored SIGTERM")
    log = server["log"].read_text(errors="replace")
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the status is
    # either 0 or "killed by SIGTERM" (143 in Docker): both after a complete shutdown.
    assert code in (0, -signal.SIGTERM), f"exit {code} after SIGTERM:\n{log[-3000:]}"
    assert "shutdown complete" in log.lower(), f"no graceful shutdown in the log:\n{log[-3000:]}"
    assert time.monotonic() - started < 15, "an idle server should stop at once"
    _, command = df.healthcheck(df.chain(image.stages, "cpu"))
    assert image.run("cpu", command, server["env"], timeout=30).returncode != 0, "HEALTHCHECK passes on a dead server"
