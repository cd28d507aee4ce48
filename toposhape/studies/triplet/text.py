"""The small text helpers the triplet chapter's figures, tables, sentences and claims share."""

import math

from toposhape.image_sets import DISPLAY_NAMES

__all__ = ["dataset_name", "plus_minus"]


def dataset_name(dataset: str) -> str:
    """The printed name of a dataset key (:data:`~toposhape.image_sets.DISPLAY_NAMES`; the
    key itself when it has none)."""
    return DISPLAY_NAMES.get(dataset, dataset)


def plus_minus(mean: float, std: float, digits: int = 1) -> str:
    """``"mean ± std"``, or the mean alone when there is no std (one seed)."""
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
