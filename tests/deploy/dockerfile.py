"""A small Dockerfile reader and .dockerignore matcher, enough to replay our images outside Docker.

Only what our Dockerfile uses is supported, and anything else fails loudly rather than being
guessed at: parser directives, `\\` line continuations (comment lines inside them are dropped, as
BuildKit does), global ARGs substituted into FROM, JSON (exec) and shell forms, and ENV / COPY /
HEALTHCHECK options. The .dockerignore matcher follows moby/patternmatcher: patterns are
cleaned paths, `*` and `?` stop at `/`, `**` spans directories, a pattern also matches every
path below a matching directory, `!` re-includes, and the last matching line wins.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def expand(text: str, env: dict[str, str]) -> str:
    """Docker's variable substitution: $VAR, ${VAR} and ${VAR:-default}; unknown -> empty."""

    def sub(m: re.Match) -> str:
        name = m.group("braced") or m.group("plain")
        value = env.get(name)
        if value in (None, "") and m.group("default") is not None:
            return m.group("default")
        return value or ""

    return _VAR.sub(sub, text)


@dataclass
class Instruction:
    keyword: str  # upper case
    rest: str  # everything after the keyword, continuations joined
    line: int  # 1-based line of the keyword

    @property
    def is_json(self) -> bool:
        return self.rest.lstrip().startswith("[")

    def json_args(self) -> list[str]:
        args = json.loads(self.rest)
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"line {self.line}: {self.keyword} JSON form must be a list of strings")
        return args


@dataclass
class Stage:
    name: str | None
    base: str  # after ARG substitution
    index: int
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    out: list[tuple[int, str]] = []
    i = 0
    # Parser directives (`# syntax=...`) are comments for our purposes.
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i + 1
        parts = []
        while True:
            cur = lines[i].rstrip()
            if cur.endswith("\\"):
                parts.append(cur[:-1])
                i += 1
                # Comment and empty lines inside a continuation are skipped.
                while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                continue
            parts.append(cur)
            i += 1
            break
        out.append((start, " ".join(p.strip() for p in parts)))
    return out


def parse(path: Path) -> list[Stage]:
    """Stages of a Dockerfile, in order, with global ARG defaults substituted into FROM."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, logical in _logical_lines(Path(path).read_text(encoding="utf-8")):
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            tokens = rest.split()
            if tokens and tokens[0].startswith("--platform"):
                tokens = tokens[1:]
            base = expand(tokens[0], global_args)
            name = tokens[2] if len(tokens) >= 3 and tokens[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=base, index=len(stages)))
            continue
        if not stages:
            if keyword != "ARG":
                raise ValueError(f"{path}:{line}: {keyword} before the first FROM")
            name, _, default = rest.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
            continue
        stages[-1].instructions.append(Instruction(keyword, rest, line))
    return stages


def stage(stages: list[Stage], name: str) -> Stage:
    for s in stages:
        if s.name == name:
            return s
    raise KeyError(f"no stage named {name!r}; stages: {[s.name for s in stages]}")


def chain(stages: list[Stage], name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, base first (external images end the chain)."""
    out = [stage(stages, name)]
    while True:
        base = out[-1].base
        parent = next((s for s in stages[: out[-1].index] if s.name == base), None)
        if parent is None:
            return list(reversed(out))
        out.append(parent)


def options(rest: str) -> tuple[dict[str, str], str]:
    """Split leading `--flag=value` options (COPY, HEALTHCHECK) from the remainder."""
    opts: dict[str, str] = {}
    rest = rest.strip()
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        key, _, value = token[2:].partition("=")
        opts[key] = value
        rest = rest.strip()
    return opts, rest


@dataclass
class Copy:
    sources: list[str]
    dest: str
    from_stage: str | None
    chown: str | None
    line: int


def copies(st: Stage) -> list[Copy]:
    out = []
    for ins in st.of("COPY") + st.of("ADD"):
        if ins.keyword == "ADD":
            raise ValueError(f"line {ins.line}: use COPY, not ADD")
        opts, rest = options(ins.rest)
        args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        out.append(Copy(args[:-1], args[-1], opts.get("from"), opts.get("chown"), ins.line))
    return out


def env_pairs(ins: Instruction) -> list[tuple[str, str]]:
    tokens = shlex.split(ins.rest)
    if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value`
        return [(tokens[0], " ".join(tokens[1:]))]
    pairs = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"line {ins.line}: ENV token {token!r} has no '='")
        pairs.append((key, value))
    return pairs


def stage_env(stages_chain: list[Stage], base_env: dict[str, str]) -> dict[str, str]:
    """ENV (and ARG defaults) accumulated down a chain, expanded as Docker expands them."""
    env = dict(base_env)
    for st in stages_chain:
        for ins in st.instructions:
            if ins.keyword == "ENV":
                for key, value in env_pairs(ins):
                    env[key] = expand(value, env)
    return env


def workdir(stages_chain: list[Stage]) -> str:
    cwd = "/"
    for st in stages_chain:
        for ins in st.of("WORKDIR"):
            cwd = os.path.normpath(os.path.join(cwd, expand(ins.rest, {})))
    return cwd


def last(stages_chain: list[Stage], keyword: str) -> Instruction | None:
    found = None
    for st in stages_chain:
        for ins in st.of(keyword):
            found = ins
    return found


def healthcheck(stages_chain: list[Stage]) -> tuple[dict[str, str], list[str]] | None:
    """(options, exec-form command) of the effective HEALTHCHECK, None for NONE or absent."""
    ins = last(stages_chain, "HEALTHCHECK")
    if ins is None or ins.rest.strip().upper() == "NONE":
        return None
    opts, rest = options(ins.rest)
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise ValueError(f"line {ins.line}: HEALTHCHECK must use CMD")
    command = command.strip()
    if not command.startswith("["):
        raise ValueError(f"line {ins.line}: HEALTHCHECK CMD must be in exec (JSON) form")
    return opts, json.loads(command)


# ---------------------------------------------------------------------------------------------
# .dockerignore


def _pattern_regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i : i + 2] == "**":
                i += 2
                if pattern[i : i + 1] == "/":
                    out.append("(?:.*/)?")  # `**/` : zero or more directories
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i)
            if end == -1:
                raise ValueError(f"unterminated class in {pattern!r}")
            cls = pattern[i + 1 : end]
            if cls.startswith(("!", "^")):
                cls = "^" + cls[1:]
            out.append(f"[{cls}]")
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


@dataclass
class IgnoreRule:
    pattern: str
    negate: bool
    regex: re.Pattern


def read_dockerignore(path: Path) -> list[IgnoreRule]:
    if not Path(path).exists():
        return []
    return parse_dockerignore(Path(path).read_text(encoding="utf-8"))


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate:
            line = line[1:].strip()
        line = os.path.normpath(line).lstrip("/")
        rules.append(IgnoreRule(line, negate, _pattern_regex(line)))
    return rules


def ignored(rel_path: str, rules: list[IgnoreRule]) -> bool:
    """Whether `rel_path` (relative to the context, `/`-separated) is left out of the context."""
    parts = rel_path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for rule in rules:
        if any(rule.regex.match(p) for p in prefixes):
            excluded = not rule.negate
    return excluded


def context_files(root: Path, rules: list[IgnoreRule]) -> list[str]:
    """Every file of the build context, relative, as the daemon would receive it."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        # .git and virtual environments are never part of ours: skip walking them (speed).
        dirnames[:] = [d for d in dirnames if d not in (".git", ".venv")]
        for name in filenames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if not ignored(rel, rules):
                out.append(rel)
    return sorted(out)


def copy_sources(root: Path, rules: list[IgnoreRule], source: str) -> list[str]:
    """Context files a COPY source (file, directory or glob) brings in, relative to the context."""
    source = os.path.normpath(source).lstrip("/")
    files = []
    for path in sorted(root.glob(source)) if any(ch in source for ch in "*?[") else [root / source]:
        if path.is_dir():
            for dirpath, _, filenames in os.walk(path):
                for name in filenames:
                    rel = os.path.relpath(os.path.join(dirpath, name), root)
                    if not ignored(rel, rules):
                        files.append(rel)
        elif path.exists():
            rel = os.path.relpath(path, root)
            if not ignored(rel, rules):
                files.append(rel)
    return sorted(files)
