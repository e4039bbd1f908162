"""The image's recipe: what the Dockerfile runs, what it installs, what reaches its build context.

No Docker engine here: these read the Dockerfile, the lock file and .dockerignore, and check what
would otherwise only show when an image is built or run.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PROJECT_SCRIPT = next(iter(PROJECT["scripts"]))  # the command the package installs
# What the image installs besides the runtime dependencies (scripts/lock compiles the same).
IMAGE_EXTRAS = frozenset({"archive"})
# The image's Python, which requirements.lock is resolved for.
IMAGE_PYTHON = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order."""
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def arguments(stage: list[tuple[str, str]], word: str) -> list[str]:
    return [rest for name, rest in stage if name == word]


def labels() -> dict[str, str]:
    found: dict[str, str] = {}
    for rest in arguments(final_stage(), "LABEL"):
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            found[key] = value
    return found


def test_the_entrypoint_is_the_cli_and_the_default_command_runs_the_processor() -> None:
    stage = final_stage()
    (entrypoint,) = arguments(stage, "ENTRYPOINT")
    (command,) = arguments(stage, "CMD")
    assert json.loads(entrypoint) == [PROJECT_SCRIPT]
    assert json.loads(command) == ["run"]


def test_the_image_is_labelled_with_the_projects_metadata_and_a_version_argument() -> None:
    found = labels()
    prefix = "org.opencontainers.image."
    assert found[prefix + "title"] == PROJECT["name"]
    assert found[prefix + "description"] == PROJECT["description"]
    assert found[prefix + "licenses"] == PROJECT["license"]
    assert found[prefix + "source"].startswith("https://")
    # The version comes from the build: a literal here would go stale at the next release.
    assert found[prefix + "version"] == "${VERSION}"
    assert "VERSION=unknown" in arguments(final_stage(), "ARG")


def pip_installs() -> list[str]:
    build = stages()[0]
    return [rest for rest in arguments(build, "RUN") if re.search(r"\bpip install\b", rest)]


def test_the_image_installs_the_lock_file_by_hash_and_then_the_package_alone() -> None:
    locked, package = pip_installs()
    assert "--require-hashes" in locked.split()
    assert "-r requirements.lock" in locked
    assert package.split()[-2:] == ["--no-deps", "."]
    copies = arguments(stages()[0], "COPY")
    assert copies[0].split()[0] == "requirements.lock"  # the dependencies' layer comes first


def test_the_final_stage_copies_the_installed_virtualenv_onto_its_path() -> None:
    (copy,) = [c for c in arguments(final_stage(), "COPY") if c.startswith("--from=build")]
    venv = copy.split()[-1]
    env = " ".join(arguments(final_stage(), "ENV"))
    assert f"PATH={venv}/bin:" in env


def locked() -> dict[str, str]:
    """Name -> pinned version, for every requirement of the lock file."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", LOCK.read_text(), re.MULTILINE)
    return {canonicalize_name(name): version for name, version in pins}


def test_every_pin_carries_hashes() -> None:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 3)[-1])
    pinned = [block for block in blocks if "==" in block]
    assert len(pinned) == len(locked())
    assert all("--hash=sha256:" in block for block in pinned)


def wanted(requirement: Requirement, extras: frozenset[str]) -> bool:
    marker = requirement.marker
    return marker is None or any(
        marker.evaluate({**IMAGE_PYTHON, "extra": extra}) for extra in extras | {""}
    )


def required(name: str, extras: frozenset[str]) -> set[str]:
    """Every distribution ``name[extras]`` needs, directly or not, on the image's Python, from
    the installed distributions' metadata."""
    found: set[str] = set()
    todo = [(name, extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        current, current_extras = todo.pop()
        try:
            requires = distribution(current).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{current} is not installed: run scripts/install")
        for text in requires:
            requirement = Requirement(text)
            key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
            if wanted(requirement, current_extras) and key not in seen:
                seen.add(key)
                found.add(key[0])
                todo.append((requirement.name, key[1]))
    return found


def test_the_lock_pins_exactly_what_the_package_and_its_archive_extra_need() -> None:
    needed = required(PROJECT["name"], IMAGE_EXTRAS)
    pins = set(locked())
    assert needed - pins == set(), "missing from requirements.lock: run scripts/lock"
    assert pins - needed == set(), "no longer needed, still in requirements.lock: run scripts/lock"


def test_the_pinned_versions_meet_the_projects_own_requirements() -> None:
    direct = [Requirement(text) for text in PROJECT["dependencies"]]
    extras = PROJECT["optional-dependencies"]
    direct += [Requirement(text) for extra in IMAGE_EXTRAS for text in extras[extra]]
    pins = locked()
    for requirement in direct:
        pinned = Version(pins[canonicalize_name(requirement.name)])
        assert requirement.specifier.contains(pinned, prereleases=True), (requirement, pinned)


def glob_regex(glob: str) -> str:
    """A .dockerignore pattern as a regular expression: ``*`` and ``?`` stay within a folder,
    ``**`` crosses folders."""
    out, i = "", 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif glob.startswith("**", i):
            out, i = out + ".*", i + 2
        elif glob[i] in "*?":
            out, i = out + ("[^/]*" if glob[i] == "*" else "[^/]"), i + 1
        elif glob[i] == "[":
            end = glob.index("]", i)
            out, i = out + glob[i : end + 1], end + 1
        else:
            out, i = out + re.escape(glob[i]), i + 1
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` out of the build context: the last pattern that matches the
    path or one of its parent folders decides (``!`` lets it back in)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        regex = glob_regex(pattern.removeprefix("!").strip("/"))
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            result = not pattern.startswith("!")
    return result


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "bench/results/curves.json",
        "tests/conftest.py",
        "reliability/README.md",
        "processor/__pycache__/cli.cpython-311.pyc",
        "processor/engine/__pycache__/flow.cpython-311.pyc",
        ".mypy_cache/3.11/x.json",
        "kafka_record_processor.egg-info/PKG-INFO",
    ],
)
def test_the_build_context_leaves_out(path: str) -> None:
    assert ignored(path, dockerignore())


def copied_sources() -> list[str]:
    sources = []
    for rest in arguments(stages()[0], "COPY"):
        words = [w for w in rest.split() if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_the_build_context_keeps_everything_the_dockerfile_copies() -> None:
    sources = copied_sources()
    assert {"requirements.lock", "processor"} <= set(sources)
    patterns = dockerignore()
    for source in sources:
        assert not ignored(source, patterns), source
        assert (ROOT / source).exists(), source
    assert not ignored("processor/engine/flow.py", patterns)


def test_the_kubernetes_image_tag_is_the_projects_version() -> None:
    kustomization = yaml.safe_load((ROOT / "deploy/kubernetes/kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert str(image["newTag"]) == PROJECT["version"], "bump newTag with pyproject.toml's version"
