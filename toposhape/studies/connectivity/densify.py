"""Densification: how many training codes of a class lie within η of the class's test codes.

The paper's claim is that samples of N > B codes are denser than a training batch, so the
η-ball around a new code of the class holds training codes of the class once N passes B;
this is what the one-class score counts. :func:`inlier_counts` measures it directly: for
each class, n of its training codes (nested random draws) and every test code of the class,
the number of the n within ℓp distance r, in each latent branch (r may differ between
branches: a radius calibrated per branch); and, for the class purity of those balls, the
number within r when every class contributes the same number of codes.
"""

from collections.abc import Sequence
from typing import Any

import torch

from toposhape.checks import check_int, check_labels, check_sequence
from toposhape.oneclass import class_draws, draw_ball_counts, per_branch_radii
from toposhape.pershom import check_p
from toposhape.studies.connectivity.deaths import check_codes
from toposhape.training import MAX_SEED


def inlier_counts(
    test_codes: torch.Tensor,
    test_labels: torch.Tensor,
    train_codes: torch.Tensor,
    train_labels: torch.Tensor,
    branches: int,
    radii: Sequence[float | Sequence[float]],
    ns: Sequence[int],
    purity_n: int,
    p: float,
    seed: int,
) -> dict[str, Any]:
    """Training codes of a class within radius r of its test codes, per branch, as n grows.

    For each class c (every label of ``test_labels``), one seeded random order of c's
    training codes; its first n are the sample of size n (so the samples are nested). For
    the purity, the first ``purity_n`` codes of every class's order are pooled.

    Parameters
    ----------
    test_codes : Tensor, shape (T, L)
    test_labels : LongTensor, shape (T,)
    train_codes : Tensor, shape (M, L)
    train_labels : LongTensor, shape (M,)
    branches : int
        ≥ 1, dividing L.
    radii : sequence of (float or sequence of float)
        Ball radii, each finite and > 0: per radius, one value for every branch or one
        value per branch (length ``branches``).
    ns : sequence of int
        Sample sizes, each in [1, the smallest class's number of training codes].
    purity_n : int
        Codes per class in the pooled sample of the purity, in the same range.
    p : float
        ℓp metric, ≥ 1 (or inf).
    seed : int
        Seeds the draws, in [0, 2**32 - 1].

    Returns
    -------
    dict
        ``classes``, ``ns``, ``radii`` (per radius, the radius of each branch: nested lists
        [radius][branch]), ``test_codes`` (per class), and per radius, class and n:
        ``mean_count`` (the mean over the class's test codes and the branches of the
        number of the n training codes within r) and ``coverage`` (the share of (test
        code, branch) pairs with at least one), nested lists [radius][class][n]; and
        ``purity``: ``n`` (``purity_n``), ``own`` and ``all``, nested lists [radius][class]:
        the mean over the class's test codes and the branches of the number within r of the
        class's first ``purity_n`` codes, and of the ``purity_n`` codes of every class. Their
        ratio, own / all, is the class's share of the training codes in its balls.
    """
    test_codes, branches = check_codes(test_codes, branches)
    train_codes, _ = check_codes(train_codes, branches)
    if train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(
            f"train_codes have {train_codes.shape[1]} columns but test_codes {test_codes.shape[1]}"
        )
    test_labels = check_labels("test_labels", test_labels)
    train_labels = check_labels("train_labels", train_labels)
    for name, labels, codes in (
        ("test_labels", test_labels, test_codes),
        ("train_labels", train_labels, train_codes),
    ):
        if len(labels) != len(codes):
            raise ValueError(f"{name} has {len(labels)} entries for {len(codes)} codes")
    radii = [
        per_branch_radii(f"radii[{i}]", r, branches)
        for i, r in enumerate(check_sequence("radii", radii))
    ]
    ns = [check_int(f"ns[{i}]", n, 1) for i, n in enumerate(check_sequence("ns", ns))]
    purity_n = check_int("purity_n", purity_n, 1)
    p = check_p(p)
    seed = check_int("seed", seed, 0, MAX_SEED)
    classes = sorted(int(c) for c in torch.unique(test_labels))
    draws = class_draws(train_labels, classes, max(*ns, purity_n), 1, seed)
    pooled = torch.cat([draws[c][:, :purity_n] for c in classes])  # (classes, purity_n)
    dim = test_codes.shape[1] // branches
    shape = (len(radii), len(classes), len(ns))
    mean, cover = torch.zeros(shape, dtype=torch.float64), torch.zeros(shape, dtype=torch.float64)
    own, every = (torch.zeros(shape[:2], dtype=torch.float64) for _ in range(2))
    sizes = []
    for ci, c in enumerate(classes):
        members = test_codes[(test_labels == c).to(test_codes.device)]
        sizes.append(len(members))
        for b in range(branches):
            part = slice(b * dim, (b + 1) * dim)
            at = [r[b] for r in radii]
            counts = draw_ball_counts(
                members[:, part], train_codes[:, part], draws[c], 1, at, ns, p
            )[0].double()  # (radii, ns, test codes of c)
            mean[:, ci] += counts.mean(dim=-1) / branches
            cover[:, ci] += (counts > 0).double().mean(dim=-1) / branches
            mixed = draw_ball_counts(
                members[:, part], train_codes[:, part], pooled, 1, at, [purity_n], p
            )[..., 0, :].double()  # (classes, radii, test codes of c)
            own[:, ci] += mixed[ci].mean(dim=-1) / branches
            every[:, ci] += mixed.sum(dim=0).mean(dim=-1) / branches
    return {
        "classes": classes,
        "ns": ns,
        "radii": radii,
        "test_codes": sizes,
        "mean_count": mean.tolist(),
        "coverage": cover.tolist(),
        "purity": {"n": purity_n, "own": own.tolist(), "all": every.tolist()},
    }
