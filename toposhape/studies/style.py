"""One look for every figure of the book, drawn at the size it is shown.

The book's text column is about 7 inches wide, so figures are drawn 7 inches wide at
100 dpi (shown at 2× for sharp screens) with no font under 9 pt: what is drawn is what the
reader sees, never a 16-inch canvas shrunk until its labels are 5 px tall.

Use :func:`figure` for every figure a report draws and :func:`check_figure` in tests::

    fig = style.figure(height=3.0)
    ax = fig.add_subplot()
"""

from collections.abc import Iterator, Mapping
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text

PAGE_WIDTH = 7.0  # inches: the book's text column
MIN_FONT = 9.0  # points: nothing smaller is legible on the page
DPI = 100  # 7 in -> 700 px, the column's width in the HTML theme

RC: Mapping[str, Any] = {
    "font.size": 10.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "legend.title_fontsize": 9.0,
    "figure.titlesize": 11.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "image.cmap": "viridis",
    "savefig.bbox": "tight",
}


def figure(height: float, width: float = PAGE_WIDTH, **kwargs: Any) -> Figure:
    """A new figure in the book's style, ``width`` × ``height`` inches.

    Parameters
    ----------
    height : float
        Height in inches (> 0).
    width : float
        Width in inches, at most :data:`PAGE_WIDTH` (default: the full column).
    **kwargs
        Passed to :class:`matplotlib.figure.Figure` (``layout`` defaults to
        ``"constrained"``).

    Raises
    ------
    ValueError
        If ``height`` is not positive or ``width`` is not in (0, PAGE_WIDTH].
    """
    if not height > 0:
        raise ValueError(f"height must be a positive number of inches, got {height!r}")
    if not 0 < width <= PAGE_WIDTH:
        raise ValueError(f"width must be in (0, {PAGE_WIDTH}] inches, got {width!r}")
    kwargs.setdefault("layout", "constrained")
    matplotlib.rcParams.update(RC)  # fonts are fixed when a text is created, after this call
    return Figure(figsize=(width, height), dpi=DPI, **kwargs)


def _texts(fig: Figure) -> Iterator[Text]:
    for artist in fig.findobj(Text):
        if artist.get_visible() and artist.get_text().strip():
            yield artist


def check_figure(fig: Figure, name: str = "figure") -> None:
    """Raise ``ValueError`` if ``fig`` would be shrunk on the page or has a tiny font.

    Parameters
    ----------
    fig : Figure
        A drawn figure.
    name : str
        How to call it in the error message.

    Raises
    ------
    ValueError
        Naming the figure and what is wrong: wider than :data:`PAGE_WIDTH` inches, or
        the first text smaller than :data:`MIN_FONT` points.
    """
    width, _ = fig.get_size_inches()
    if width > PAGE_WIDTH + 1e-6:
        raise ValueError(f"{name} is {width:.2f} in wide; the page is {PAGE_WIDTH} in")
    for text in _texts(fig):
        if text.get_fontsize() < MIN_FONT - 1e-6:
            raise ValueError(
                f"{name}: text {text.get_text()!r} is {text.get_fontsize():.1f} pt; "
                f"the book's minimum is {MIN_FONT:g} pt"
            )


def not_run(sentence: str) -> Figure:
    """A figure-sized note in place of a figure whose results do not exist yet.

    Parameters
    ----------
    sentence : str
        What is missing, e.g. "The full profile has not been run yet."
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(f"sentence must be a non-empty string, got {sentence!r}")
    fig = figure(1.0)
    ax = fig.subplots()
    ax.set_axis_off()  # an axes, so that the figure is drawn as an image
    ax.text(0.5, 0.5, sentence, ha="center", va="center", transform=ax.transAxes)
    return fig
