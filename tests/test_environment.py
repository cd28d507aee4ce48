"""environment.yml, pyproject.toml and the Makefile describe the same environment."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return {r.name: r for r in reqs}


def _environment_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {Requirement(r).name: Requirement(r) for r in pip if not r.startswith("-")}


def _makefile_pins() -> dict[str, str]:
    line = re.search(r"^TORCH_PIN\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert line, "Makefile defines TORCH_PIN"
    return dict(pin.split("==") for pin in line.group(1).split())


def test_same_packages() -> None:
    assert set(_pyproject_requirements()) == set(_environment_requirements())


def test_same_specifiers_except_pinned_pair() -> None:
    py, env = _pyproject_requirements(), _environment_requirements()
    pins = _makefile_pins()
    for name, req in env.items():
        if name in pins:
            continue
        assert req.specifier == py[name].specifier, name


def test_torch_pins_agree_and_satisfy_pyproject() -> None:
    py, env = _pyproject_requirements(), _environment_requirements()
    for name, version in _makefile_pins().items():
        assert str(env[name].specifier) == f"=={version}", name
        assert py[name].specifier.contains(version), name


def test_python_version_allowed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))

    assert SpecifierSet(project["requires-python"]).contains(python.split("=")[1] + ".0")
