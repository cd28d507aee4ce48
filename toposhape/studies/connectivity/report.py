"""The chapter "Controlling connectivity" as readers see it, from a results payload only.

:func:`figures` draws every figure (:mod:`.plots`, :mod:`.sweep_plots`), :func:`tables`
gives every table as a DataFrame (:mod:`.tables`), :func:`findings` the sentences computed
from the numbers (:mod:`.findings`), and :func:`claims` the chapter's rows of the
reproduction scorecard (:mod:`.claims`). Nothing here trains or measures: a payload fresh
from :func:`toposhape.studies.connectivity.run.run` and one loaded from
``results/connectivity/<profile>.json`` give the same page. The numbers across seeds and
the verdict rules are :mod:`.summary`'s.
"""

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from toposhape.checks import check_mapping
from toposhape.studies.connectivity import plots, sweep_plots
from toposhape.studies.connectivity.claims import claims, current
from toposhape.studies.connectivity.findings import findings
from toposhape.studies.connectivity.run import PAYLOAD_KEYS
from toposhape.studies.connectivity.tables import tables

__all__ = ["claims", "current", "figures", "findings", "tables"]


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of the chapter, keyed by the name it is glued and saved under."""
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    return {
        "toy_kde": plots.plot_toy_kde(payload),
        "toy_deaths": plots.plot_toy_deaths(payload),
        "vr_demo": plots.plot_vr_demo(payload),
        "training_curves": plots.plot_training_curves(payload),
        "death_histograms": plots.plot_death_histograms(payload),
        "latent_kde": plots.plot_latent_kde(payload),
        "gradients": plots.plot_gradients(payload),
        "sweep_curves": sweep_plots.plot_sweep_curves(payload),
        "batch_sweep": sweep_plots.plot_batch_sweep(payload),
        "covering": sweep_plots.plot_covering(payload),
        "densification": sweep_plots.plot_densification(payload),
        "densification_by_b": sweep_plots.plot_densification_by_b(payload),
    }
