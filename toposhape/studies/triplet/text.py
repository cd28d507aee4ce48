"""The small text helpers the triplet chapter's figures, tables, sentences and claims share."""

import math

__all__ = ["DATASET_NAMES", "dataset_name", "plus_minus"]

#: Dataset key -> the name the page prints.
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST",
                 "tinyimagenet": "TinyImageNet-200"}  # fmt: skip


def dataset_name(dataset: str) -> str:
    """The printed name of a dataset key (the key itself when it has none)."""
    return DATASET_NAMES.get(dataset, dataset)


def plus_minus(mean: float, std: float, digits: int = 1) -> str:
    """``"mean ± std"``, or the mean alone when there is no std (one seed)."""
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
