"""Tests of toposhape.studies.style and .present: the book's figures and tables."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from toposhape.studies import present, style


def test_figure_is_drawn_at_page_width_with_legible_fonts() -> None:
    fig = style.figure(height=3.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set(title="title", xlabel="x", ylabel="y")
    ax.legend()
    assert tuple(fig.get_size_inches()) == (style.PAGE_WIDTH, 3.0)
    style.check_figure(fig)  # every text at least MIN_FONT


@pytest.mark.parametrize(
    ("height", "width", "message"),
    [(0.0, 7.0, "height must be"), (3.0, 7.5, "width must be in"), (3.0, 0.0, "width must be in")],
)
def test_figure_refuses_sizes_off_the_page(height: float, width: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        style.figure(height, width)


def test_check_figure_catches_wide_figures_and_small_text() -> None:
    with pytest.raises(ValueError, match=r"wide_fig is 12\.00 in wide"):
        style.check_figure(Figure(figsize=(12, 4)), "wide_fig")
    fig = style.figure(2.0)
    fig.add_subplot().text(0.5, 0.5, "tiny note", fontsize=6)
    with pytest.raises(ValueError, match=r"'tiny note' is 6\.0 pt"):
        style.check_figure(fig)


def test_not_run_is_a_legible_note_and_refuses_an_empty_sentence() -> None:
    fig = style.not_run("The full profile has not been run yet.")
    style.check_figure(fig)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["The full profile has not been run yet."]
    with pytest.raises(ValueError, match="sentence must be a non-empty string"):
        style.not_run("  ")


def test_table_hides_the_index_and_rounds() -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "AUROC": [0.75638, None]})
    html = present.table(frame, caption="Table 1", precision=2).to_html()
    assert "0.76" in html and "0.75638" not in html
    assert "Table 1" in html and "–" in html
    assert "row_heading" not in html  # no index column
    assert repr(present.table(frame)).splitlines()[0].split() == ["model", "AUROC"]  # no repr
    escaped = present.table(pd.DataFrame({"where": ["<root>/data"]})).to_html()
    assert "&lt;root&gt;/data" in escaped
    linked = pd.DataFrame({"claim": ['<a href="x.html#s">x</a>']})
    assert '<a href="x.html#s">' in present.table(linked, escape=False).to_html()
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame"):
        present.table([{"a": 1}])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="precision must be an integer >= 0"):
        present.table(frame, precision=-1)


def test_glue_figures_refuses_what_is_not_a_figure() -> None:
    with pytest.raises(TypeError, match=r"figures\['x'\] must be a matplotlib Figure"):
        present.glue_figures({"x": "not a figure"})  # type: ignore[dict-item]


def test_source_line_says_where_numbers_came_from() -> None:
    saved = {
        "provenance": {
            "finished_utc": "2026-11-30T01:02:03+00:00",
            "git_commit": "0123456789abcdef",
            "wall_time_s": 90.0,
            "device": {"cpu": "a CPU"},
        }
    }
    line = present.source_line("full", saved, started=0.0)
    assert "commit 0123456789," in line and "1.5 min on a CPU" in line
    assert "computed in this run" in present.source_line("smoke", None, started=0.0)
