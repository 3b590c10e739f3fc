"""Allowing for many comparisons at once: the Benjamini–Hochberg procedure (pure Python, no Django).

A page that tests two hundred changes at the 5% level would call about ten of them "real" by chance
alone even if nothing changed. Benjamini and Hochberg (1995) adjust the p-values of a family of tests
so that, when every test whose adjusted p-value is at most q is called significant, the expected share
of false discoveries among them (the false discovery rate) is at most q. It holds for independent
tests and for positively dependent ones (Benjamini and Yekutieli, 2001), which is the case of
estimates of overlapping groups from one wave.

``adjust_bh`` gives the same values as R's ``p.adjust(p, method = "BH")``, missing values included:
a NaN (or None) p-value stays missing and does not count in the number of tests, as in R.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FDR = 0.05  # the false discovery rate the results page allows


def _missing(p: float | None) -> bool:
    return p is None or math.isnan(p)


def adjust_bh(p_values: Sequence[float | None]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values, in the order given (NaN where the p-value is missing).

    With the m present p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted value of p₍ᵢ₎ is
    min over j ≥ i of min(1, m · p₍ⱼ₎ / j): R's ``pmin(1, cummin(n / i * p[o]))``.
    """
    present = [(p, i) for i, p in enumerate(p_values) if not _missing(p)]
    for p, _i in present:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a p-value must be between 0 and 1, not {p!r}")
    adjusted = [math.nan] * len(p_values)
    m = len(present)
    running = 1.0
    # From the largest p-value down, as R does (ties keep their order: the value is the same for all).
    for rank, (p, index) in zip(range(m, 0, -1), sorted(present, key=lambda pair: pair[0], reverse=True), strict=True):
        running = min(running, m * p / rank)
        adjusted[index] = running
    return adjusted


def significant_bh(p_values: Sequence[float | None], q: float = FDR) -> list[bool]:
    """Which tests are discoveries at false discovery rate ``q`` (adjusted p-value ≤ q; a missing
    p-value never is)."""
    return [not math.isnan(a) and a <= q for a in adjust_bh(p_values)]
