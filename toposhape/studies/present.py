"""How a chapter notebook shows its results: captioned figures, tables, where numbers came from.

A chapter glues its figures once, in a hidden cell::

    present.glue_figures(figures)

and places each one with a numbered, captioned MyST figure in a Markdown cell, where the
caption says what to notice and ``:alt:`` describes the image::

    ```{glue:figure} toy_kde
    :name: fig-connectivity-toy-kde
    :alt: Three clusters of different spread with a KDE that blurs the tightest one.

    One bandwidth cannot suit clusters whose spreads differ 40-fold: ...
    ```

Tables are DataFrames shown through :func:`table` in a cell tagged ``remove-input``
(``hide-output`` as well when the table is long and a figure carries its message).
"""

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler


def glue_figures(figures: Mapping[str, Figure]) -> None:
    """Glue every figure under its key, without displaying it, for ``{glue:figure}``.

    Parameters
    ----------
    figures : mapping of str to Figure
        Key -> figure, as a chapter report's ``figures(payload)`` returns them.

    Raises
    ------
    TypeError
        If a value is not a matplotlib figure.
    """
    from matplotlib_inline.backend_inline import set_matplotlib_formats
    from myst_nb import glue

    set_matplotlib_formats("retina")  # a glued figure is stored as PNG, drawn at 2x for sharpness
    for key, fig in figures.items():
        if not isinstance(fig, Figure):
            raise TypeError(
                f"figures[{key!r}] must be a matplotlib Figure, got {type(fig).__name__}"
            )
        glue(key, fig, display=False)


class Table:
    """A table as the book shows it: styled HTML, and plain text where HTML is not shown.

    What :func:`table` returns; a notebook displays it as the last expression of a cell.
    """

    def __init__(self, styler: Styler) -> None:
        self.styler = styler

    def to_html(self) -> str:
        """The table as an HTML fragment."""
        return self.styler.to_html()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.styler.data.to_string(index=False)


def table(
    frame: pd.DataFrame, caption: str | None = None, precision: int = 3, escape: bool = True
) -> Table:
    """A DataFrame as the book shows it: no index column, numbers to ``precision`` digits.

    Parameters
    ----------
    frame : DataFrame
        The rows to show; column names are the headers.
    caption : str, optional
        A one-line title above the table.
    precision : int
        Decimal places of float columns (≥ 0).
    escape : bool
        Escape HTML in the cells (default), so ``<root>`` shows as typed. ``False`` only
        for cells that are HTML on purpose, already escaped (e.g. the scorecard's links).

    Raises
    ------
    TypeError
        If ``frame`` is not a DataFrame.
    ValueError
        If ``precision`` is negative.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(precision, bool) or not isinstance(precision, int) or precision < 0:
        raise ValueError(f"precision must be an integer >= 0, got {precision!r}")
    styler = frame.style.hide(axis="index").format(
        precision=precision, na_rep="–", escape="html" if escape else None
    )
    styler = styler.set_table_attributes('class="table"')  # the theme's table style
    return Table(styler if caption is None else styler.set_caption(caption))


#: Small counts written as words by :func:`plural` ("three training seeds").
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def plural(n: int, noun: str, words: bool = False) -> str:
    """``"12 epochs"``, ``"1 epoch"``; with ``words`` small counts spelled out: ``"three
    epochs"``, ``"one epoch"``."""
    number = NUMBER_WORDS[n] if words and 0 <= n < len(NUMBER_WORDS) else str(n)
    return f"{number} {noun}{'' if n == 1 else 's'}"


def source_line(profile: str, saved: Mapping[str, Any] | None, started: float) -> str:
    """One Markdown sentence saying where a chapter's numbers came from.

    Parameters
    ----------
    profile : str
        The profile shown.
    saved : mapping or None
        The loaded results record (with its ``provenance``), or None if the numbers were
        computed in this run.
    started : float
        ``time.time()`` when the run began (used when ``saved`` is None).
    """
    if saved is None:
        return (
            f"Profile **{profile}**: numbers computed in this run ({time.time() - started:.0f} s)."
        )
    prov = saved["provenance"]
    return (
        f"Profile **{profile}**: numbers loaded from the saved results (finished "
        f"{prov['finished_utc']}, commit {str(prov['git_commit'])[:10]}, "
        f"{prov['wall_time_s'] / 60:.1f} min on {prov['device']['cpu']})."
    )
