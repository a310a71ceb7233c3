"""The one lock (deploy/constraints.txt) is what the tests run on, and pyproject's ranges keep it honest."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from .conftest import ROOT
from .test_dockerfile import PYPROJECT, pins

# Installed into the venv by `python -m venv` itself, not by the lock; the images pin them through it.
_VENV_TOOLS = {"pip", "setuptools", "wheel"}


def all_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def test_the_test_environment_runs_the_locked_versions():
    # scripts/install-dev.sh installs with `-c deploy/constraints.txt`: a drift here means the suite
    # is testing something other than what the images ship.
    pinned = pins()
    drift = []
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in pinned and name not in _VENV_TOOLS:
            installed = Version(Version(dist.version).public)  # torch's +cpu is the local build of the pin
            if installed != pinned[name]:
                drift.append(f"{name} {dist.version} installed, {pinned[name]} locked")
    assert not drift, "run scripts/install-dev.sh (or deploy/lock.sh if pyproject changed): " + "; ".join(drift)


def test_every_requirement_of_every_extra_is_pinned_within_its_range():
    pinned = pins()
    for req in all_requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} (pyproject) has no pin in deploy/constraints.txt: run deploy/lock.sh"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{req.name}=={pinned[name]} violates pyproject's {req}"
        )


def test_pre_1_0_dependencies_have_a_ceiling():
    # Before 1.0 a minor release may break anything; the lock moves only within the ceilings.
    pinned = pins()
    for req in all_requirements():
        locked = pinned[canonicalize_name(req.name)]
        if locked.major == 0 and not any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier):
            raise AssertionError(f"{req} is pre-1.0 (locked {locked}) but has no upper bound in pyproject.toml")


def test_torch_is_locked_to_the_cpu_training_release():
    assert pins()["torch"] == Version("2.13.0")


def test_every_install_script_installs_from_the_lock():
    for script in ("scripts/install-dev.sh", "scripts/serve.sh"):
        text = (ROOT / script).read_text(encoding="utf-8")
        installs = [line for line in text.splitlines() if re.search(r"pip\b.*\binstall\b", line)]
        assert installs, script
        for line in installs:
            if "--no-deps" in line:  # data carriers pinned exactly on their own line (aeon, sphinx)
                assert re.search(r"==\d", line), f"{script}: {line}"
            else:
                assert "deploy/constraints.txt" in line or "PIP[@]" in line, f"{script}: {line}"
    assert "-c deploy/constraints.txt" in (ROOT / "scripts/install-dev.sh").read_text(encoding="utf-8")


def test_the_lock_names_its_bump_command():
    bump = ROOT / "scripts" / "bump-lock.sh"
    assert bump.stat().st_mode & 0o111
    assert "deploy/lock.sh --upgrade" in bump.read_text(encoding="utf-8")
