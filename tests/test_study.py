"""A long study's profiles and folders (toposhape.studies.study)."""

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from toposhape.chapters import CHAPTERS, module
from toposhape.results import repo_root
from toposhape.studies.study import Study


def _profiles() -> dict[str, dict]:
    return {"smoke": {"sizes": [1, 2], "nested": {"a": [3]}}, "full": {"sizes": [4]}}


def test_settings_are_a_deep_copy():
    profiles = _profiles()
    study = Study("demo", profiles)
    first = study.settings("smoke")
    assert first == _profiles()["smoke"]
    first["sizes"].append(99)
    first["nested"]["a"].append(99)
    first["new"] = 1
    assert profiles == _profiles()
    assert study.settings("smoke") == _profiles()["smoke"]


def test_the_folders_are_under_the_chapter_and_profile(tmp_path):
    study = Study("demo", _profiles())
    assert study.work_dir("smoke", tmp_path) == tmp_path / "demo" / "smoke" / "_work"
    assert study.records_dir("full", tmp_path) == tmp_path / "demo" / "full" / "records"
    assert study.work_dir("full", str(tmp_path)) == tmp_path / "demo" / "full" / "_work"
    default = repo_root() / "results" / "demo" / "smoke"
    assert study.work_dir("smoke") == default / "_work"
    assert study.records_dir("smoke", None) == default / "records"
    assert not (tmp_path / "demo").exists()  # naming a folder makes none


def test_a_profile_added_later_is_known(tmp_path):
    profiles = _profiles()
    study = Study("demo", profiles)
    with pytest.raises(ValueError):
        study.settings("tiny")
    profiles["tiny"] = {"sizes": []}
    assert study.settings("tiny") == {"sizes": []}
    assert study.work_dir("tiny", tmp_path) == tmp_path / "demo" / "tiny" / "_work"


def test_the_study_is_frozen():
    study = Study("demo", _profiles())
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.chapter = "other"


_CHOICE = "profile must be one of 'smoke', 'full', got 'medium'"


@pytest.mark.parametrize(
    ("profile", "error", "message"),
    [
        ("medium", ValueError, _CHOICE),
        (["smoke"], TypeError, "profile must be a string, got ['smoke'] (list)"),
        (None, TypeError, "profile must be a string, got None (NoneType)"),
    ],
)
@pytest.mark.parametrize("method", ["settings", "work_dir", "records_dir", "check"])
def test_a_bad_profile_names_the_argument_and_the_valid_ones(
    tmp_path, profile, error, message, method
):
    study = Study("demo", _profiles())
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        getattr(study, method)(profile)


@pytest.mark.parametrize("method", ["work_dir", "records_dir"])
def test_the_profile_is_checked_before_the_root(method):
    with pytest.raises(ValueError, match=f"^{re.escape(_CHOICE)}$"):
        getattr(Study("demo", _profiles()), method)("medium", 3)


@pytest.mark.parametrize("method", ["work_dir", "records_dir"])
@pytest.mark.parametrize(("root", "kind"), [(3, "int"), (b"results", "bytes"), ([], "list")])
def test_a_bad_root_names_the_argument(method, root, kind):
    study = Study("demo", _profiles())
    with pytest.raises(TypeError, match=rf"^results_root must be a path or None, got {kind}$"):
        getattr(study, method)("smoke", root)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_takes_its_profiles_and_folders_from_its_study(chapter, tmp_path):
    run = importlib.import_module(module(chapter, "run"))
    study = run.get_profile.__self__
    assert isinstance(study, Study)
    assert study.chapter == run.CHAPTER == chapter
    assert study.profiles is run.PROFILES
    assert run.work_dir.__self__ is study
    for profile in run.PROFILES:
        assert run.get_profile(profile) == run.PROFILES[profile]
        assert run.get_profile(profile) is not run.PROFILES[profile]
        assert run.work_dir(profile, tmp_path) == tmp_path / chapter / profile / "_work"
        if hasattr(run, "record_dir"):
            assert run.record_dir.__self__ is study
            assert run.record_dir(profile, tmp_path) == Path(tmp_path, chapter, profile, "records")
