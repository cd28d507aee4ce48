"""A long study's profiles and folders, checked in one place.

Each long study names its chapter and its ``PROFILES`` once and takes its settings and
folders from that::

    STUDY = Study(CHAPTER, PROFILES)
    get_profile = STUDY.settings
    work_dir = STUDY.work_dir
    record_dir = STUDY.records_dir

The folders are those of :func:`toposhape.results.work_dir` and
:func:`toposhape.results.records_dir`.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toposhape import results
from toposhape.checks import check_choice, check_path

__all__ = ["Study"]


@dataclass(frozen=True)
class Study:
    """A chapter's profiles and where each profile's files go.

    Attributes
    ----------
    chapter : str
        The chapter, the folder of its results under the results root.
    profiles : mapping
        Its ``PROFILES``, profile name -> settings. Held, not copied: a profile added to
        the mapping later (a test's) is a valid profile from then on.
    """

    chapter: str
    profiles: Mapping[str, Mapping[str, Any]]

    def check(self, profile: object) -> str:
        """``profile`` if it is one of :attr:`profiles`.

        Raises
        ------
        TypeError
            If it is not a string.
        ValueError
            If it is not a profile; the message names ``profile`` and lists the valid ones
            (``profile must be one of 'smoke', 'full', got 'x'``).
        """
        return check_choice("profile", profile, tuple(self.profiles))

    def settings(self, profile: str) -> dict[str, Any]:
        """Settings of a profile, as a deep copy (the caller may change it).

        Raises
        ------
        TypeError, ValueError
            As :meth:`check`.
        """
        return json.loads(json.dumps(self.profiles[self.check(profile)]))

    def work_dir(self, profile: str, results_root: str | Path | None = None) -> Path:
        """Checkpoint folder of a profile: ``<results>/<chapter>/<profile>/_work`` (git-ignored).

        Raises
        ------
        TypeError, ValueError
            As :meth:`check`; TypeError if ``results_root`` is not a path or None.
        """
        self._check_folder(profile, results_root)
        return results.work_dir(self.chapter, profile, results_root)

    def records_dir(self, profile: str, results_root: str | Path | None = None) -> Path:
        """Committed records of a profile: ``<results>/<chapter>/<profile>/records``.

        Raises
        ------
        TypeError, ValueError
            As :meth:`work_dir`.
        """
        self._check_folder(profile, results_root)
        return results.records_dir(self.chapter, profile, results_root)

    def _check_folder(self, profile: object, results_root: object) -> None:
        self.check(profile)
        check_path("results_root", results_root)
