"""Cohorts and predicted-risk groups: the one definition the model, pages and command line share.

A person's group depends on where their log-risk falls in a reference distribution (the
model's training cohort for one ECG, the cohort itself for Kaplan-Meier curves):
``"tertiles"`` (low / intermediate / high), ``"quartiles"`` (Q1 lowest … Q4 highest) or
``"top_k"`` (the top k % against the rest; the paper plots k = 4 for MI and 2 for HYP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The shipped cohorts: key -> display name (every display adds "(synthetic)" when the model is).
COHORTS: dict[str, str] = {"mi": "MI-like", "hyp": "HYP-like"}
#: Risk-group schemes understood by :func:`assign_groups`.
SCHEMES = ("tertiles", "quartiles", "top_k")


def cohort_label(cohort: str, *, synthetic: bool = True) -> str:
    """Human name of a cohort, e.g. ``"MI-like cohort (synthetic)"``."""
    name = f"{COHORTS.get(cohort, cohort)} cohort"
    return f"{name} (synthetic)" if synthetic else name


@dataclass(frozen=True)
class RiskGroups:
    """Risk-group assignment of a cohort.

    Attributes
    ----------
    labels : ndarray of str, shape (N,)
        Group of each person.
    order : tuple of str
        Group labels from lowest to highest risk.
    cutoffs : dict of str to float
        Log-risk boundaries (label of the group above the cut -> value).
    """

    labels: np.ndarray
    order: tuple[str, ...]
    cutoffs: dict[str, float]


def assign_groups(log_risk: Sequence[float] | float, scheme: str = "tertiles", *, top_k_percent: float = 10.0,
                  reference: Sequence[float] | None = None) -> RiskGroups:
    """Split people into predicted-risk groups.

    Parameters
    ----------
    log_risk : float or array (N,)
        Predicted log-risk of each person.
    scheme : {"tertiles", "quartiles", "top_k"}
        Equal thirds / quarters of the reference, or its top ``top_k_percent`` % against the rest.
    top_k_percent : float
        Size of the high-risk group for ``"top_k"`` (0 < k < 100).
    reference : array, optional
        Distribution the quantile cut-offs come from (default: ``log_risk`` itself).

    Returns
    -------
    RiskGroups
        Groups hold about equal shares of the reference; people tied exactly at a cut-off stay
        in the lower group, so with many tied risks a group can be larger (or empty).
    """
    r = np.atleast_1d(np.asarray(log_risk, dtype=float))
    ref = r if reference is None else np.asarray(reference, dtype=float)
    if scheme == "tertiles":
        qs, names = [1 / 3, 2 / 3], ("low", "intermediate", "high")
    elif scheme == "quartiles":
        qs, names = [0.25, 0.5, 0.75], ("Q1 (lowest)", "Q2", "Q3", "Q4 (highest)")
    elif scheme == "top_k":
        k = float(top_k_percent)
        if not 0 < k < 100:
            raise ValueError(f"top_k_percent must be in (0, 100), got {k}")
        qs, names = [1 - k / 100], (f"lower {100 - k:g}%", f"top {k:g}%")
    else:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    cuts = np.quantile(ref, qs)
    # a person is above a cut only when strictly above it: tied risks at a cut (common when a
    # model's ReLU head saturates at a floor value) stay together in the lower group
    idx = np.searchsorted(cuts, r, side="left")  # number of cuts strictly below r, 0 .. len(cuts)
    labels = np.array(names, dtype=object)[idx]
    return RiskGroups(labels=labels, order=names, cutoffs={names[i + 1]: float(c) for i, c in enumerate(cuts)})
