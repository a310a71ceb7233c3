"""The README and the docs are true: every example runs against a real server and answers as shown.

One server process (the committed reference models, gRPC and shared memory on, an admin token as
the examples export) serves every example: the README's in README order, then each docs page's
in page order. The conventions, the same for the README and every page:

- A curl command (also after `&&`) must answer 2xx. A `# {...}` comment after it is its answer: if it
  reads as JSON (`...` eliding entries), it is compared as a shown answer is (below); otherwise every
  top-level field it names must be in the answer and every plain JSON value it spells out equal.
- `<!-- docs-test: METHOD PATH BODY -->` before a JSON block: the full answer to that request,
  compared field by field (numbers to the decimals shown, "..." for elided entries).
- Python blocks run as they are, 127.0.0.1:8000 and :8001 pointing at the test server; a `# ...`
  comment after a `print(...)` is a line the script must print.
- Load-test commands must name a model that exists; the first one (of the README, of each page) runs, shortened.
- Not run: the set-up commands (`scripts/serve.sh`, `scripts/test.sh`), commands for a cluster or a
  container runtime (docker, kubectl, helm), and any block introduced by `<!-- docs-test: not run: WHY -->`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from scripts.launcher import PROJECT_ROOT as ROOT
from scripts.launcher import ServerProcess

pytestmark = pytest.mark.slow

README = ROOT / "README.md"
REPOSITORY = ROOT / "models" / "repository"
ADMIN_TOKEN = "change-me"  # the README's own example token
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- docs-test: (GET|POST) (\S+)(?: (.*?))? -->\s*```json\n(.*?)^```", re.S | re.M)
# Commands that only make sense against a cluster or a container runtime, not a test server.
NOT_HERE = re.compile(r"^\s*(docker|kubectl|helm|SERVICE_HOSTNAME=)")
# A block shown but not run, with the reason (another test runs it, or it trains, installs, or needs root).
NOT_RUN = re.compile(r"<!-- docs-test: not run: (\S.*?) -->\s*(?=```)", re.S)
LOADTEST = re.compile(r"(\S*/)?(ortserve-loadtest|python -m scripts\.loadtest)\s")


def fences(text: str) -> list[tuple[int, str, str]]:
    """(offset, language, body) of each fenced block that runs: not those under a not-run marker."""
    shown_only = {marker.end() for marker in NOT_RUN.finditer(text)}
    return [(m.start(), m.group(1), m.group(2)) for m in FENCE.finditer(text) if m.start() not in shown_only]


def blocks(kind: str) -> list[str]:
    return [body for _, lang, body in fences(README.read_text(encoding="utf-8")) if lang == kind]


def commands(block: str) -> list[tuple[str, list[str]]]:
    """Logical shell commands (continuations and multi-line quotes joined), each with the comment lines after it."""
    found: list[tuple[str, list[str]]] = []
    current = ""
    for line in block.splitlines():
        if not current and line.lstrip().startswith("#"):
            if found:
                found[-1][1].append(line.lstrip()[1:].strip())
            continue
        current += line + "\n"
        try:
            shlex.split(current.replace("\\\n", " "), comments=True)
        except ValueError:  # an open quote: the command goes on
            continue
        if current.rstrip().endswith("\\"):
            continue
        found.append((current.strip(), []))
        current = ""
    # A blank line is an empty command: the comments after it belong to no command before it.
    return [(command, comments) for command, comments in found if command]


def curl_commands() -> list[tuple[str, list[str]]]:
    out = []
    for block in blocks("bash"):
        for command, comments in commands(block):
            if ("curl " in command and not NOT_HERE.search(command)) or "&& curl " in command:
                out.append((command[command.index("curl ") :], comments))
    return out


@pytest.fixture(scope="module")
def server():
    # Shared memory on, as the README's shared-memory example says to start the server.
    env = {"ORTSERVE_ADMIN_TOKEN": ADMIN_TOKEN, "ORTSERVE_SYSTEM_SHARED_MEMORY": "true"}
    with ServerProcess(REPOSITORY, env=env, grpc=True) as proc:
        yield proc


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The files the examples upload: real held-out digits, as the README's names say."""
    from scripts.loadtest.samples import heldout_digits

    here = tmp_path_factory.mktemp("readme")
    digits = heldout_digits()[:, 0]
    labels = np.load(ROOT / "scripts" / "loadtest" / "data" / "digits_heldout.npz")["labels"]

    def save(name: str, digit: int, dark_on_white: bool = False) -> None:
        pixels = (digits[int(np.flatnonzero(labels == digit)[0])] * 255).round().astype(np.uint8)
        pixels = np.kron(255 - pixels if dark_on_white else pixels, np.ones((4, 4), np.uint8))
        Image.fromarray(pixels).save(here / name)

    save("digit.png", 5)
    save("three.png", 3)
    save("seven.jpg", 7)
    noisy = np.clip(digits[0] + np.random.default_rng(0).normal(0, 0.3, digits[0].shape), 0, 1)
    Image.fromarray((noisy * 255).round().astype(np.uint8)).save(here / "noisy.png")
    image = digits[0].ravel().tolist()
    (here / "request.json").write_text(json.dumps(
        {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": image}]}))
    (here / "docs").symlink_to(ROOT / "docs")  # examples run from a checkout's root upload docs/img/*.png
    return here


def run_curl(command: str, server: ServerProcess, cwd: Path) -> tuple[int, bytes]:
    port = str(server.port)
    command = command.replace("localhost:8000", f"127.0.0.1:{port}")
    env = {**os.environ, "INGRESS_HOST": "127.0.0.1", "INGRESS_PORT": port,
           "SERVICE_HOSTNAME": "ortserve.default.example.com"}
    # Options and redirection go in front: a README line may end in a `# comment`. The first -o
    # wins for the one URL, so the body always lands in `body` (an example's own -o is ignored).
    line = f">status curl -sS -w '%{{http_code}}' -o body {command[len('curl '):]}"
    done = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, f"{command}\n{done.stderr.decode()}"
    return int((cwd / "status").read_text()[-3:]), (cwd / "body").read_bytes()


def documented_fields(comments: list[str]) -> dict[str, object]:
    """`"key": value` pairs of a `# {...}` answer comment; values that are not plain JSON are None."""
    text = " ".join(c for c in comments if not c.startswith("format="))
    fields: dict[str, object] = {}
    for match in re.finditer(r'"(\w+)":\s*', text):
        rest = text[match.end() :]
        try:
            value, _ = json.JSONDecoder().raw_decode(rest)
        except json.JSONDecodeError:
            value = None
        fields.setdefault(match.group(1), value)
    return fields


def top_level_keys(comments: list[str]) -> set[str]:
    """Keys at depth 1 of the comment's object (nested objects' keys are not top-level)."""
    text, depth, keys = " ".join(comments), 0, set()
    for match in re.finditer(r'[{}\[\]]|"(\w+)":', text):
        token = match.group(0)
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
        elif depth == 1:
            keys.add(match.group(1))
    return keys


def shown_json(comments: list[str]) -> object | None:
    """The answer comment as JSON, `...` eliding (`{...}`/`[...]` a whole value, `, ...}` the other keys,
    a bare `...` a value or list entries), up to where the object ends (prose may follow); None when
    it does not read as JSON (inner comments, descriptions of fields)."""
    lines = [c for c in comments if not c.startswith("format=")]
    first = next((i for i, c in enumerate(lines) if c.startswith("{")), None)
    if first is None:
        return None
    text = " ".join(lines[first:])
    text = re.sub(r"\{\s*\.\.\.\s*\}|\[\s*\.\.\.\s*\]", '"..."', text)
    text = re.sub(r",\s*\.\.\.\s*\}", "}", text)
    text = re.sub(r'(?<!")\.\.\.(?!")', '"..."', text)
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except json.JSONDecodeError:
        return None


def check_answer(command: str, comments: list[str], body: bytes) -> None:
    """The answer agrees with the `# {...}` comment after the command, if there is one."""
    if not any(c.startswith("{") for c in comments):
        return
    answer = json.loads(body)
    shown = shown_json(comments)
    if shown is not None:
        matches(shown, answer, command)
        return
    fields = documented_fields(comments)
    for key in top_level_keys(comments):
        assert key in answer, f"{command}\nthe docs show {key!r}; the answer has {sorted(answer)}"
        if fields.get(key) is not None:
            assert answer[key] == fields[key], f"{command}\n{key}: docs {fields[key]!r}, server {answer[key]!r}"


def check_curl(command: str, comments: list[str], server: ServerProcess, cwd: Path) -> None:
    status, body = run_curl(command, server, cwd)
    assert 200 <= status < 300, f"{command}\n-> {status} {body[:300]!r}"
    check_answer(command, comments, body)


@pytest.mark.parametrize("index", range(len(curl_commands())))
def test_curl_example(index, server, workdir):
    # Examples run in README order (each test index in turn), so load/unload happen as written.
    check_curl(*curl_commands()[index], server, workdir)


def matches(shown: object, real: object, where: str) -> None:
    """`real` agrees with the docs' `shown` answer: numbers to the decimals shown, "..." elides."""
    if shown == "...":
        return
    if isinstance(shown, dict):
        assert isinstance(real, dict), where
        for key, value in shown.items():
            if key != "...":
                assert key in real, f"{where}: the docs show {key!r}, the answer lacks it"
                matches(value, real[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(real, list), where
        shown = [s for s in shown if s != "..."]
        assert len(real) >= len(shown), f"{where}: the docs show {len(shown)} entries, the answer has {len(real)}"
        for i, value in enumerate(shown):
            matches(value, real[i], f"{where}[{i}]")
    elif isinstance(shown, float):
        decimals = max(0, -int(Decimal(repr(shown)).as_tuple().exponent))  # 2e-05: 5, 0.52: 2, 1.0: 1
        assert round(float(real), decimals) == shown, f"{where}: docs {shown}, server {real}"
    else:
        assert real == shown, f"{where}: docs {shown!r}, server {real!r}"


def test_shown_answers_are_the_real_answers(server):
    # The README's own; each docs page's are checked with the page's other examples.
    for method, path, body, shown in MARKER.findall(README.read_text(encoding="utf-8")):
        check_marked_answer(method, path, body, shown, server)
    pages = [README, *DOCS.rglob("*.md")]
    assert any(MARKER.search(page.read_text(encoding="utf-8")) for page in pages), "no full answer is marked"


def check_marked_answer(method: str, path: str, body: str | None, shown: str, server: ServerProcess) -> None:
    response = httpx.request(method, server.url + path, json=json.loads(body) if body else None, timeout=30)
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text[:300]}"
    matches(json.loads(shown), response.json(), f"{method} {path}")


def printed_lines(code: str) -> list[str]:
    """What the `# ...` comments after `print(...)` calls say the script prints."""
    return [m.group(1).strip() for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", code, re.M)]


def run_python(code: str, server: ServerProcess, cwd: Path) -> None:
    """Run a Python example against the test server; each line its print comments show must be printed."""
    for old in ("127.0.0.1:8000", "localhost:8000"):
        code = code.replace(old, f"127.0.0.1:{server.port}")
    for old in ("127.0.0.1:8001", "localhost:8001"):  # gRPC examples
        code = code.replace(old, server.grpc_target)
    if "bertviz" in code and not _installed("bertviz"):
        # BertViz draws in a notebook; without it, check the exact value the example hands it.
        code = "\n".join(line for line in code.splitlines() if "bertviz import" not in line and "head_view(" not in line)
        code += ("\nassert all(t.dim() == 4 and t.shape[0] == 1 and t.shape[2] == t.shape[3] "
                 "== len(answer['bertviz']['tokens']) for t in attention), [t.shape for t in attention]\n")
    if not (cwd / "docs").exists():  # examples run from a checkout's root read docs/img/*.png
        (cwd / "docs").symlink_to(ROOT / "docs")
    script = cwd / "example.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{code}\n{done.stderr}"
    printed = [line.strip() for line in done.stdout.splitlines()]
    for line in printed_lines(code):
        assert line in printed, f"{code}\nthe docs show {line!r} printed; the output is:\n{done.stdout}"


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_example(index, server, tmp_path):
    run_python(blocks("python")[index], server, tmp_path)


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def loadtest_commands(text: str | None = None) -> list[str]:
    found = blocks("bash") if text is None else [body for _, lang, body in fences(text) if lang == "bash"]
    return [c for block in found for c, _ in commands(block) if LOADTEST.match(c)]


def loadtest_args(command: str) -> list[str]:
    """What follows `ortserve-loadtest` or `python -m scripts.loadtest`: the model, then options."""
    words = shlex.split(command.replace("\\\n", " "), comments=True)
    return words[1:] if words[0].endswith("ortserve-loadtest") else words[3:]


def reference_models() -> set[str]:
    return {p.name for p in REPOSITORY.iterdir() if (p / "config.json").is_file()}


def test_loadtest_examples_name_real_models():
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    named = [loadtest_args(c)[0] for page in pages for c in loadtest_commands(page.read_text(encoding="utf-8"))]
    assert named and all(name in reference_models() for name in named), f"{named} vs {sorted(reference_models())}"


def run_loadtest(command: str, server: ServerProcess) -> None:
    """A load-test example, shortened: half a second per step at concurrency 1 and 4."""
    args = loadtest_args(command)
    args += ["--url", server.url, "--duration", "0.5", "--warmup", "0.2", "--concurrency", "1,4"]
    done = subprocess.run([sys.executable, "-m", "scripts.loadtest", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert "p99" in done.stdout and "data: " in done.stdout and "SYNTHETIC" not in done.stdout, done.stdout


def test_first_loadtest_example_runs(server):
    run_loadtest(loadtest_commands()[0], server)


# -- docs/**/*.md: every example of each page, in page order -----------------------------------------
# The README's conventions, plus what a page may do besides: run a command (`python -m service.scaffold
# ...`: the comment lines after it are its output and must appear in it), start its own server
# (`python -m service [--repository DIR] [ARGS] &`, the reference models without --repository: the
# page's later examples talk to it), and show a file it wrote (`<!-- docs-test: file PATH -->` before a JSON block).

DOCS = ROOT / "docs"
SERVE = re.compile(r"^python -m service(?:\s|$)")
FILE_MARKER = re.compile(r"<!-- docs-test: file (\S+) -->\s*```json\n(.*?)^```", re.S | re.M)
# Set-up commands a page shows but the test cannot run: each installs and serves, or runs the suite itself.
DOCS_NOT_RUN = re.compile(r"^(scripts/serve\.sh|scripts/test\.sh)(\s|$)")
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


def page_examples(text: str) -> list[tuple[str, str, object]]:
    """("bash", command, comments), ("python", code, None), ("file", path, shown) and
    ("answer", "METHOD PATH BODY", shown), in the order they appear on the page."""
    found: list[tuple[int, tuple[str, str, object]]] = []
    for start, lang, body in fences(text):
        if lang == "bash":
            found += [(start, ("bash", command, comments)) for command, comments in commands(body)]
        elif lang == "python":
            found.append((start, ("python", body, None)))
    found += [(m.start(), ("file", m.group(1), m.group(2))) for m in FILE_MARKER.finditer(text)]
    found += [(m.start(), ("answer", " ".join(filter(None, m.groups()[:3])), m.group(4))) for m in MARKER.finditer(text)]
    return [example for _, example in sorted(found, key=lambda pair: pair[0])]


def bash_kind(command: str) -> str:
    """How the page test treats a shell command: skip, curl, serve, loadtest or command."""
    if DOCS_NOT_RUN.match(command):
        return "skip"
    if command.startswith("curl ") or "&& curl " in command:
        return "curl"
    if NOT_HERE.search(command):
        return "skip"
    if SERVE.match(command):
        return "serve"
    return "loadtest" if LOADTEST.match(command) else "command"


def run_command(command: str, comments: list[str], cwd: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    for line in comments:
        assert line in done.stdout, f"{command}\nthe page shows {line!r}; the output is:\n{done.stdout}"


def start_server(command: str, cwd: Path) -> ServerProcess:
    words = shlex.split(command, comments=True)
    words = words[: words.index("&")] if "&" in words else words
    args = words[3:]
    repository = REPOSITORY
    if "--repository" in args:
        repository = cwd / args.pop(args.index("--repository") + 1)
        args.remove("--repository")
    server = ServerProcess(repository, args=args)
    try:
        server.wait_ready()
    except BaseException:
        server.terminate()
        raise
    return server


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_examples(page, server, workdir, tmp_path):
    examples = page_examples((DOCS / page).read_text(encoding="utf-8"))
    for shared in ("mkdocs.yml", "docs"):  # commands run in a scratch folder that sees the docs sources
        (tmp_path / shared).symlink_to(ROOT / shared)
    for upload in ("digit.png", "three.png", "seven.jpg", "noisy.png", "request.json"):  # the README's files
        (tmp_path / upload).symlink_to(workdir / upload)
    own: ServerProcess | None = None
    loadtest_ran = False
    try:
        for kind, what, extra in examples:
            current = own or server
            step = bash_kind(what) if kind == "bash" else kind
            if step == "serve":
                if own is not None:
                    own.terminate()
                own = start_server(what, tmp_path)
            elif step == "curl":
                check_curl(what[what.index("curl ") :], extra, current, tmp_path)
            elif step == "loadtest" and not loadtest_ran:
                run_loadtest(what, current)
                loadtest_ran = True
            elif step == "command":
                run_command(what, extra, tmp_path)
            elif step == "python":
                run_python(what, current, tmp_path)
            elif step == "file":
                matches(json.loads(extra), json.loads((tmp_path / what).read_text()), f"{page}: {what}")
            elif step == "answer":
                method, path, *body = what.split(" ", 2)
                check_marked_answer(method, path, body[0] if body else None, extra, current)
    finally:
        if own is not None:
            own.terminate()


def test_examples_are_in_languages_the_test_knows():
    """A block tagged `sh` or `console` would never run: only bash, python, json and untagged blocks exist."""
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        found = {lang for lang, _ in FENCE.findall(page.read_text(encoding="utf-8"))}
        assert found <= {"bash", "python", "json", ""}, f"{page.relative_to(ROOT)}: {sorted(found)}"


def test_a_not_run_marker_names_its_reason_and_precedes_a_block():
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        markers = re.findall(r"^<!-- docs-test: not run", text, re.M)
        assert len(markers) == len(NOT_RUN.findall(text)), page.relative_to(ROOT)


def scaffold_commands() -> list[tuple[str, list[str]]]:
    return [(c, comments) for block in blocks("bash") for c, comments in commands(block)
            if c.startswith("python -m service.scaffold ")]


def test_readme_scaffold_examples_run_and_print_what_is_shown(tmp_path):
    found = scaffold_commands()
    assert found, "the README shows no `python -m service.scaffold` example"
    for command, comments in found:
        run_command(command, comments, tmp_path)
