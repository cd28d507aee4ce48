"""The reproduction scorecard: one row per claim of the three source texts, from results.

Every chapter's report module defines ``claims(load) -> list[Claim]``, where
``load(profile)`` returns that chapter's saved results payload for a profile (or None
when that profile has not been run). Each claim's verdict is computed from the payload by
the rule stated in its ``rule`` field, decided before the numbers were looked at; nothing
in a row is typed in by hand except the claim, the anchor and the reference's set-up,
which are quotations of the source.
"""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from toposhape.results import load_results

SOURCES: Mapping[str, str] = {
    "hofer2019": "Hofer et al., ICML 2019 (connectivity loss)",
    "antoran2019": "Antorán & Miguel, ICMLA 2019 (N-VAE)",
    "korman": "Korman, 2018 & 2021 (atlas representations)",
}
VERDICTS = ("reproduced", "partly", "not reproduced", "not runnable here", "not run yet")

Loader = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Claim:
    """One claim of a source text and what this book measured for it.

    Attributes
    ----------
    source : str
        A key of :data:`SOURCES`.
    claim : str
        The claim, in one sentence.
    verdict : str
        One of :data:`VERDICTS`, computed from the results by ``rule``.
    rule : str
        The verdict rule, stated in one sentence.
    measured : str
        The key number(s) measured here, e.g. ``"75.6 ± 0.3 (3 seeds)"``; ``"–"`` if none.
    anchor : str
        The source's own number for it, or ``""`` when the source gives none.
    data : str
        The data the measured number came from, as its results file records it.
    budget : str
        The training budget used here.
    reference : str
        The source's data and budget.
    seeds : int
        Training seeds behind ``measured`` (0 when nothing was run).
    chapter : str
        The chapter that measures it (its notebook's name).
    section : str
        The MyST label of the chapter section that shows it.
    """

    source: str
    claim: str
    verdict: str
    rule: str
    measured: str
    anchor: str
    data: str
    budget: str
    reference: str
    seeds: int
    chapter: str
    section: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, got {self.source!r}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 0:
            raise ValueError(f"seeds must be an integer >= 0, got {self.seeds!r}")
        for name in ("claim", "rule", "chapter", "section"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")


def chapter_loader(chapter: str, root: str | None = None) -> Loader:
    """``load(profile)``: the saved results payload of ``chapter`` at a profile, or None."""

    def load(profile: str) -> Mapping[str, Any] | None:
        record = load_results(chapter, profile, root=root)
        return None if record is None else record["results"]

    return load


def collect(chapters: Mapping[str, str], root: str | None = None) -> list[Claim]:
    """Every claim of every chapter, in chapter order.

    Parameters
    ----------
    chapters : mapping of str to str
        Chapter name -> the module path of its report (which defines ``claims``).
    root : str, optional
        The results folder (default: the repository's ``results/``).
    """
    found: list[Claim] = []
    for chapter, module in chapters.items():
        report = importlib.import_module(module)
        found.extend(report.claims(chapter_loader(chapter, root)))
    return found


def frame(claims: list[Claim]) -> pd.DataFrame:
    """The claims as a DataFrame, one row per claim, with every :class:`Claim` field."""
    return pd.DataFrame([asdict(c) for c in claims], columns=list(Claim.__dataclass_fields__))
