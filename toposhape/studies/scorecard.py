"""The reproduction scorecard: one row per claim of the three source texts, from results.

Every chapter's report module defines ``claims(load) -> list[Claim]``, where
``load(profile)`` returns that chapter's saved results payload for a profile (or None
when that profile has not been run). Each claim's verdict is computed from the payload by
the rule stated in its ``rule`` field; nothing in a row is typed in by hand except the
claim, the anchor and the reference's set-up, which are quotations of the source. The
rules for results committed before the scorecard existed were written with those numbers
known; a rule for a new run is fixed in code before the run.
"""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

import pandas as pd

from toposhape.results import load_results, results_dir

SOURCES: Mapping[str, str] = {
    "hofer2019": "Hofer et al., ICML 2019 (connectivity loss)",
    "antoran2019": "Antorán & Miguel, ICMLA 2019 (N-VAE)",
    "korman": "Korman, 2018 & 2021 (atlas representations)",
}
#: "within noise": the measurement cannot tell (the seed spread or the confidence interval
#: covers the rule's threshold), as opposed to "partly" (some of the rule's conditions hold).
VERDICTS = (
    "reproduced",
    "partly",
    "within noise",
    "not reproduced",
    "not runnable here",
    "not run yet",
)

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


def summary(claims: list[Claim]) -> pd.DataFrame:
    """Claims per source and verdict: one row per source, one column per verdict, a total."""
    counts = pd.crosstab(
        pd.Categorical([SOURCES[c.source] for c in claims], categories=list(SOURCES.values())),
        pd.Categorical([c.verdict for c in claims], categories=list(VERDICTS)),
        dropna=False,
    )
    counts = counts.loc[:, counts.sum(axis=0) > 0]
    counts["claims"] = counts.sum(axis=1)
    counts.index.name, counts.columns.name = "source", None
    return counts.reset_index()


def link(claim: Claim) -> str:
    """HTML link from a claim's text to the chapter section that measures it."""
    return (
        f'<a href="{escape(claim.chapter)}.html#{escape(claim.section)}">{escape(claim.claim)}</a>'
    )


#: Background colour of each verdict in the scorecard's tables.
VERDICT_COLOURS: Mapping[str, str] = {
    "reproduced": "#d4edda",
    "partly": "#fff3cd",
    "within noise": "#e7f0fa",
    "not reproduced": "#f8d7da",
    "not runnable here": "#e2e3e5",
    "not run yet": "#e2e3e5",
}


def _picked(claims: list[Claim], source: str) -> list[Claim]:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}, got {source!r}")
    return [c for c in claims if c.source == source]


def rows(claims: list[Claim], source: str) -> pd.DataFrame:
    """The scorecard rows of one source: claim (linked), verdict, measured, anchor, seeds.

    Cells are HTML, already escaped; the verdict is shaded by :data:`VERDICT_COLOURS`.

    Parameters
    ----------
    claims : list of Claim
    source : str
        A key of :data:`SOURCES`.

    Raises
    ------
    ValueError
        If ``source`` is not a key of :data:`SOURCES`.
    """
    picked = _picked(claims, source)
    return pd.DataFrame(
        {
            "claim (links to the measurement)": [link(c) for c in picked],
            "verdict": [
                f'<span style="background:{VERDICT_COLOURS[c.verdict]};padding:0 0.3em">'
                f"{escape(c.verdict)}</span>"
                for c in picked
            ],
            "measured here": [escape(c.measured) for c in picked],
            "anchor": [escape(c.anchor or "–") for c in picked],
            "seeds": [c.seeds for c in picked],
        }
    )


def details(claims: list[Claim], source: str) -> pd.DataFrame:
    """What stands behind each row of :func:`rows`: data and budget here and in the source,
    and the verdict rule (plain text).

    Raises
    ------
    ValueError
        If ``source`` is not a key of :data:`SOURCES`.
    """
    picked = _picked(claims, source)
    return pd.DataFrame(
        {
            "claim": [c.claim for c in picked],
            "data and budget here": [f"{c.data}; {c.budget}" for c in picked],
            "source's data and budget": [c.reference for c in picked],
            "verdict rule": [c.rule for c in picked],
        }
    )


def compute_seconds(chapter: str, root: str | None = None) -> float:
    """Wall time recorded in the provenance of a chapter's saved results, smoke excluded.

    Training done before a results run (e.g. the one-class backbones, trained by a
    separate command) is added by the chapter report's ``training_seconds(load)`` when
    it defines one.
    """
    folder = results_dir(root) / chapter
    total = 0.0
    for path in sorted(folder.glob("*.json")):
        if path.stem == "smoke":
            continue
        record = load_results(chapter, path.stem, root=root)
        if record is not None:
            total += float(record["provenance"]["wall_time_s"])
    return total


def compute_table(chapters: Mapping[str, str], root: str | None = None) -> pd.DataFrame:
    """Each chapter's recorded compute: the results runs, and training done before them.

    Parameters
    ----------
    chapters : mapping of str to str
        Chapter name -> the module path of its report.
    root : str, optional
        The results folder (default: the repository's ``results/``).

    Returns
    -------
    DataFrame
        Columns ``chapter``, ``results runs (min)``, ``training before them (h)``.
    """
    table = []
    for chapter, module in chapters.items():
        report = importlib.import_module(module)
        training = getattr(report, "training_seconds", None)
        before = training(chapter_loader(chapter, root)) if training is not None else 0.0
        table.append(
            {
                "chapter": chapter,
                "results runs (min)": compute_seconds(chapter, root) / 60,
                "training before them (h)": before / 3600,
            }
        )
    return pd.DataFrame(table)
