"""Survey estimation: weighted means and proportions with their standard errors (no Django imports).

Two kinds of design, each matched number for number against R's ``survey`` package (4.1.1; the
fixtures and the R script that makes them are in ``tests/lib/survey_fixtures/``):

``ReplicateDesign``
    A full-sample weight per respondent and B replicate weights (Statistics Canada's bootstrap weights,
    e.g. the GSS's WTBS_001..WTBS_500 beside WGHT_PER). The estimate θ̂ uses the full-sample weights;
    each replicate b gives θ_b with its own weights, and

        v(θ̂) = scale · Σ_b (θ_b − c)²,   scale = 1/(B − 1) unless given,

    with c the mean of the θ_b (``centre="replicate_mean"``) or θ̂ itself (``centre="full_sample"``,
    Stata's ``mse``). This is R's ``svrepdesign(type="bootstrap", combined.weights=TRUE, mse=FALSE)``
    or ``mse=TRUE``, and ``svrVar``: a replicate whose estimate is undefined (no weight in the
    domain) is left out of the sum and of the mean, as R's ``na.omit`` does, scale unchanged.

``LinearizedDesign``
    Each respondent its own primary sampling unit, drawn with replacement within strata (R's
    ``svydesign(ids=~1, strata=~s, weights=~w)``). For the ratio mean θ̂ = Σ w·d·y / Σ w·d (d the domain
    and valid-answer indicator) the influence value of respondent i is

        z_i = w_i·d_i·(y_i − θ̂) / Σ_j w_j·d_j          (0 outside the domain or when the answer is missing)

    and v(θ̂) = Σ_h n_h/(n_h − 1) · Σ_{i∈h} (z_i − z̄_h)², n_h counting every respondent of stratum h
    (domain estimation: R's ``svymean`` on a subset, ``svyrecvar``/``onestrat``). After ``rake``
    the z are first replaced by calibration residuals exactly as ``svyrecvar`` does for a
    ``"raking"`` object: ten passes over the margins of z ← z − w_m · ave_m(z / w_m), where ave_m is the
    unweighted mean within the respondent's category of margin m and w_m the weights right after
    margin m was adjusted in the last raking sweep.

A missing answer is NaN: it leaves the estimate's numerator and denominator (R's ``na.rm=TRUE``).
Confidence intervals are θ̂ ± qnorm(0.975)·SE (R's ``confint`` on ``svymean``, df = Inf).
The release rule is Statistics Canada's: fewer than 10 respondents, or a CV above 33.3 %, is "F"
(not published); a CV from 16.6 % to 33.3 % is "E" (use with caution).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple, get_args

import numpy as np
from scipy import sparse
from scipy.stats import norm
from threadpoolctl import threadpool_limits

Centre = Literal["replicate_mean", "full_sample"]
CENTRES: tuple[str, ...] = get_args(Centre)

MIN_RESPONDENTS = 10
CV_CAUTION = 16.5
CV_SUPPRESS = 33.3
Z_95 = float(norm.ppf(0.975))  # = R's qnorm(0.975)
RAKING_RESIDUAL_PASSES = 10  # survey:::svyrecvar: `for (iterations in 1:10)`

_CHUNK_BYTES = 32 * 2**20  # at most this much of the replicate matrix is copied (as float64) at a time


# ---- designs ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # arrays: designs compare (and hash) by identity
class ReplicateDesign:
    """Full-sample weights and combined replicate weights; see the module docstring for the variance.

    ``replicates`` may be float32 or float64, C- or Fortran-ordered, or a memory map: it is never
    copied whole (estimates read it in row blocks).
    """

    weights: np.ndarray
    replicates: np.ndarray
    centre: Centre
    scale: float | None = None

    def __post_init__(self) -> None:
        weights = _as_weights(self.weights, "weights")
        replicates = np.asarray(self.replicates)
        if replicates.ndim != 2 or replicates.shape[0] != weights.shape[0]:
            raise ValueError(
                f"replicates must be an (n, B) matrix with n = {weights.shape[0]} rows, got shape {replicates.shape}"
            )
        if replicates.shape[1] < 2:
            raise ValueError(f"a replicate design needs at least 2 replicates, got {replicates.shape[1]}")
        if not (np.issubdtype(replicates.dtype, np.floating) or np.issubdtype(replicates.dtype, np.integer)):
            raise ValueError(f"replicate weights must be numbers, got dtype {replicates.dtype}")
        low, high = replicates.min(), replicates.max()  # two passes, no temporary the size of the matrix
        if math.isnan(low) or math.isnan(high) or math.isinf(high):
            raise ValueError("replicate weights must be finite (no NaN or infinity)")
        if low < 0:
            raise ValueError("replicate weights must not be negative")
        if self.centre not in CENTRES:
            raise ValueError(f"unknown centre {self.centre!r}: use one of {', '.join(CENTRES)}")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be a positive number, got {self.scale!r}")
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "replicates", replicates)

    @property
    def n_replicates(self) -> int:
        return int(self.replicates.shape[1])

    @property
    def variance_scale(self) -> float:
        """The multiplier of the sum of squares: ``scale``, or 1/(B − 1) when it is None."""
        return self.scale if self.scale is not None else 1.0 / (self.n_replicates - 1)


@dataclass(frozen=True, eq=False)  # arrays: designs compare (and hash) by identity
class LinearizedDesign:
    """Respondents as with-replacement PSUs within optional strata (no fpc); see the module docstring.

    ``calibration`` (margin codes) and ``calibration_weights`` (the weights right after each margin was
    adjusted in the last raking sweep: R's ``attr(margin, "weights")``) are set by ``rake``; when
    ``calibration_weights`` is empty the design's own weights stand in for them.
    """

    weights: np.ndarray
    strata: np.ndarray | None = None
    calibration: tuple[np.ndarray, ...] = ()
    calibration_weights: tuple[np.ndarray, ...] = ()
    _stratum: np.ndarray = field(init=False, repr=False, compare=False)
    _stratum_sizes: np.ndarray = field(init=False, repr=False, compare=False)
    _stratum_indicator: sparse.csr_matrix | None = field(init=False, repr=False, compare=False)
    _raking: tuple[_RakingMargin, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weights = _as_weights(self.weights, "weights")
        n = weights.shape[0]
        if self.strata is None:
            stratum, sizes = np.zeros(n, dtype=np.intp), np.array([n])
            if n < 2:
                raise ValueError("a linearized design needs at least 2 respondents")
        else:
            levels, stratum = _categories(self.strata, n, "strata")
            sizes = np.bincount(stratum, minlength=len(levels))
            lonely = np.flatnonzero(sizes == 1)
            if lonely.size:
                raise ValueError(
                    f"stratum {levels[lonely[0]]!r} has a single respondent: its variance cannot be estimated "
                    "(R's survey.lonely.psu = 'fail'); merge it with a similar stratum"
                )
        if self.calibration_weights and len(self.calibration_weights) != len(self.calibration):
            raise ValueError("calibration_weights must be empty or have one array per calibration margin")
        raking = []
        for m, codes in enumerate(self.calibration):
            levels, index = _categories(codes, n, "calibration codes")
            w = _as_weights(self.calibration_weights[m], "calibration weights") if self.calibration_weights else weights
            if w.shape != (n,):
                raise ValueError(f"each calibration weight array must have shape ({n},)")
            safe = np.where(w > 0, w, 1.0)  # a respondent with zero weight has z = 0 (R would give NaN)
            raking.append(_RakingMargin(index, _indicator(index, len(levels)), np.bincount(index), w, safe))
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "_stratum", stratum)
        object.__setattr__(self, "_stratum_sizes", sizes)
        object.__setattr__(self, "_stratum_indicator", _indicator(stratum, len(sizes)) if len(sizes) > 1 else None)
        object.__setattr__(self, "_raking", tuple(raking))


class _RakingMargin(NamedTuple):
    """A raking margin as svyrecvar uses it: category index, (C, n) indicator, category sizes, weights."""

    index: np.ndarray
    indicator: sparse.csr_matrix
    sizes: np.ndarray
    weights: np.ndarray
    safe_weights: np.ndarray  # weights with zeros replaced by 1, to divide by


Design = ReplicateDesign | LinearizedDesign


def _as_weights(weights: np.ndarray, name: str) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    if np.any(w < 0):
        raise ValueError(f"{name} must not be negative")
    if not np.any(w > 0):
        raise ValueError(f"{name} are all zero")
    return w


def _categories(codes: np.ndarray, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(levels, index of each respondent's level) for an (n,) array of hashable codes."""
    array = np.asarray(codes)
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {array.shape}")
    if np.issubdtype(array.dtype, np.floating) and np.any(np.isnan(array)):
        raise ValueError(f"{name} must not be missing (NaN)")
    try:
        levels, index = np.unique(array, return_inverse=True)
    except TypeError as error:  # e.g. None mixed with strings in an object array
        raise ValueError(f"{name} must be comparable codes without missing values: {error}") from None
    return levels, index.reshape(n)


def _indicator(index: np.ndarray, size: int) -> sparse.csr_matrix:
    """(size, n) sparse 0/1 matrix with a 1 at (index[i], i)."""
    n = index.shape[0]
    return sparse.csr_matrix((np.ones(n), (index, np.arange(n))), shape=(size, n))


# ---- estimates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A weighted mean or proportion with its standard error, 95 % interval, CV and release flag.

    For an empty domain (n = 0) the estimate, se, interval and cv are NaN. When every replicate
    estimate is undefined the se and cv are NaN (R stops there). A NaN cv is flagged "F".
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    cv: float | None
    n: int
    weighted_n: float
    flag: str


def _make_estimate(estimate: float, variance: float, n: int, weighted_n: float) -> Estimate:
    if n == 0:
        estimate = variance = math.nan
    se = math.sqrt(variance) if variance >= 0 else math.nan
    cv = None if estimate == 0 else 100.0 * se / abs(estimate)
    return Estimate(
        estimate=estimate,
        se=se,
        ci_low=estimate - Z_95 * se,
        ci_high=estimate + Z_95 * se,
        cv=cv,
        n=n,
        weighted_n=weighted_n,
        flag=release_flag(n, cv),
    )


def mean(design: Design, values: np.ndarray, domain: np.ndarray | None = None) -> Estimate:
    """Weighted mean Σ w·d·y / Σ w·d of ``values`` (NaN = missing) in ``domain`` (default: everyone).

    R: ``svymean(~y, design, na.rm=TRUE)``, or ``svyby(~y, ~group, design, svymean, na.rm=TRUE)`` for a
    domain. The mean of a 0/1 column is a proportion.
    """
    column = _values_matrix(values, _size(design), one_column=True)
    domains = np.ones((column.shape[0], 1), dtype=bool) if domain is None else _domain_vector(domain, column.shape[0])
    return estimate_table(design, column, domains)[0][0]


def proportion(
    design: Design, values: np.ndarray, categories: Collection[float], domain: np.ndarray | None = None
) -> Estimate:
    """Share of the valid (non-NaN) answers whose value is one of ``categories``.

    The mean of the indicator 1{y ∈ categories} (NaN where y is NaN): R's ``svymean`` of a factor level
    or of ``I(y %in% categories)`` with missing answers kept missing.
    """
    y = _values_matrix(values, _size(design), one_column=True)[:, 0]
    wanted = np.asarray(list(categories), dtype=np.float64)
    if wanted.size == 0:
        raise ValueError("categories is empty")
    indicator = np.where(np.isnan(y), np.nan, np.isin(y, wanted).astype(np.float64))
    return mean(design, indicator, domain)


def estimate_table(design: Design, values: np.ndarray, domains: np.ndarray) -> list[list[Estimate]]:
    """Mean of each of the k ``values`` columns (NaN = missing) in each of the d ``domains`` columns.

    ``values`` is (n, k) (or (n,) for k = 1); ``domains`` is (n, d) booleans, which may overlap. Returns
    k lists of d Estimates, each equal to ``mean(design, values[:, j], domains[:, l])``.

    Replicate designs: the respondents are grouped by domain-membership pattern (the set of domains
    they are in). A group's replicate rows are gathered (at most 32 MB of them, as float64, at a time:
    never the whole matrix) and multiplied by its valid answers and validity indicators in one BLAS
    product, 2k × rows by rows × B; the group's sums are then added into the domains of its pattern.
    Respondents in no domain, or with no valid answer, are not read. The rows are read in pattern
    order, not file order, so a memory-mapped matrix is best already in the page cache.

    Linearized designs: explicit influence values, a block of domains at a time; after raking, R's ten
    residual passes over the margins are run in the space of the margins' categories.
    """
    n = _size(design)
    y = _values_matrix(values, n, one_column=False)
    member = _domains_matrix(domains, n)
    valid = ~np.isnan(y)
    y = np.where(valid, y, 0.0)
    if isinstance(design, ReplicateDesign):
        theta, variance, weighted, counts = _replicate_table(design, y, valid, member)
    else:
        theta, variance, weighted, counts = _linearized_table(design, y, valid, member)
    return [
        [
            _make_estimate(float(theta[j, c]), float(variance[j, c]), int(counts[j, c]), float(weighted[j, c]))
            for c in range(member.shape[1])
        ]
        for j in range(y.shape[1])
    ]


def _size(design: Design) -> int:
    if not isinstance(design, ReplicateDesign | LinearizedDesign):
        raise TypeError(f"design must be a ReplicateDesign or a LinearizedDesign, got {type(design).__name__}")
    return int(design.weights.shape[0])


def _values_matrix(values: np.ndarray, n: int, *, one_column: bool) -> np.ndarray:
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"values must be numbers (NaN for a missing answer), got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] != n or (one_column and array.shape[1] != 1):
        expected = f"({n},)" if one_column else f"({n},) or ({n}, k)"
        raise ValueError(f"values must have shape {expected}, got {np.shape(values)}")
    if np.any(np.isinf(array)):
        raise ValueError("values must not be infinite (use NaN for a missing answer)")
    return array


def _as_bool(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.number) and np.all((array == 0) | (array == 1)):
        return array.astype(bool)
    raise ValueError(f"{name} must be booleans (or 0/1)")


def _domain_vector(domain: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(domain)
    if array.shape != (n,):
        raise ValueError(f"domain must have shape ({n},), got {array.shape}")
    return _as_bool(array, "domain")[:, None]


def _domains_matrix(domains: np.ndarray, n: int) -> np.ndarray:
    array = np.asarray(domains)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] != n or array.shape[1] == 0:
        raise ValueError(f"domains must have shape ({n}, d) with d ≥ 1, got {np.shape(domains)}")
    return _as_bool(array, "domains")


# ---- replicate designs --------------------------------------------------------------------------


def _replicate_table(
    design: ReplicateDesign, y: np.ndarray, valid: np.ndarray, member: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(θ̂, v, Σw, n) per (column, domain) for a replicate design; y has 0 where the answer is missing."""
    groups = _pattern_groups(member, member.any(axis=1) & valid.any(axis=1))
    with threadpool_limits(limits=1, user_api="blas"):  # thousands of small products: see _domain_sums
        sums = _domain_sums(design, y, valid, groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = sums.full[0] / sums.full[1]
        theta_b = sums.replicates[0] / sums.replicates[1]
    variance = _replicate_variance(theta, theta_b, design.centre, design.variance_scale)
    return theta, variance, sums.full[1], np.rint(sums.counts).astype(np.int64)


class _PatternGroups(NamedTuple):
    """Respondents grouped by domain-membership pattern: group g is ``rows[bounds[g]:bounds[g + 1]]``."""

    rows: np.ndarray  # (m,) respondent indices, sorted by pattern, ascending within a pattern
    bounds: list[int]  # G + 1 offsets into rows
    patterns: np.ndarray  # (G, d) booleans: the domains each group's respondents are in


def _pattern_groups(member: np.ndarray, keep: np.ndarray) -> _PatternGroups:
    """The ``keep`` respondents grouped by their row of the (n, d) ``member`` matrix (any d)."""
    rows = np.flatnonzero(keep)
    d = member.shape[1]
    n_words = -(-d // 64)
    packed = np.zeros((rows.shape[0], 8 * n_words), dtype=np.uint8)
    packed[:, : -(-d // 8)] = np.packbits(member, axis=1)[rows]
    words = packed.view(np.uint64)  # (m, n_words) keys: only equality and a consistent order matter
    order = np.argsort(words[:, 0], kind="stable") if n_words == 1 else np.lexsort(words.T)
    rows, words = rows[order], words[order]
    starts = np.flatnonzero(np.any(words[1:] != words[:-1], axis=1)) + 1
    starts = np.concatenate([[0], starts]) if rows.shape[0] else starts
    return _PatternGroups(rows, [*starts.tolist(), rows.shape[0]], member[rows[starts]])


class _DomainSums(NamedTuple):
    full: np.ndarray  # (2, k, d): Σ w·y and Σ w over the valid answers in each domain
    replicates: np.ndarray  # (2, k, d, B): the same with each replicate's weights
    counts: np.ndarray  # (k, d): valid answers in each domain (float, whole numbers)


def _domain_sums(design: ReplicateDesign, y: np.ndarray, valid: np.ndarray, groups: _PatternGroups) -> _DomainSums:
    """Σ w·y and Σ w over the valid answers, with the full-sample and each replicate's weights, per domain.

    The grouped rows are walked in chunks of at most ``_CHUNK_BYTES`` of float64 replicate weights
    (and at most that many bytes of per-group sums): in each, a group's replicate rows are gathered,
    multiplied at once by its (rows, 2k) answers [y, valid] (BLAS), and the group sums added into the
    domains of the group's pattern (BLAS again). A group split between chunks gives a partial sum in
    each, which adds up the same in the domains. The large buffers are allocated once.

    The caller runs this with BLAS on one thread. Its products are small (2k × B per group) and
    there are thousands per call; a multithreaded BLAS synchronizes its threads in each, so when
    other processes keep the cores busy every product waits for a descheduled thread. At 1,000,000
    respondents × 500 replicates in 2,599 groups, on 2 cores at load 4, a call took 6–32 s with two
    BLAS threads and 3.0–4.4 s with one; on a quiet machine one thread is about 20% slower.
    """
    replicates = design.replicates
    k, n_replicates, d = y.shape[1], replicates.shape[1], groups.patterns.shape[1]
    width = 2 * k
    rows, bounds = groups.rows, groups.bounds
    n_groups = len(bounds) - 1
    step = max(1, _CHUNK_BYTES // (8 * n_replicates))  # rows gathered at a time
    most_groups = max(1, _CHUNK_BYTES // (8 * width * n_replicates))  # group sums held at a time
    gathered = np.empty((min(step, rows.shape[0]), n_replicates))
    staging = None
    if replicates.flags.c_contiguous and replicates.dtype != np.float64:
        staging = np.empty(gathered.shape, replicates.dtype)
    table = np.empty((min(most_groups, n_groups), width, n_replicates))
    replicate_sums = np.zeros((d, width * n_replicates))
    product = np.empty_like(replicate_sums)
    other_sums = np.zeros((d, 3 * k))  # Σ w·y, Σ w and the count of the valid answers
    start, group = 0, 0
    while start < bounds[-1]:
        stop = min(start + step, bounds[min(group + most_groups, n_groups)])
        end = bisect.bisect_left(bounds, stop)  # groups [group, end) have rows in [start, stop)
        index = rows[start:stop]
        block = _gather_rows(replicates, index, gathered[: stop - start], staging)
        part = np.hstack([y[index], valid[index]], dtype=np.float64)  # (rows, 2k)
        offsets = [max(bounds[g], start) - start for g in range(group, end)] + [stop - start]
        for s in range(end - group):
            a, b = offsets[s], offsets[s + 1]
            np.matmul(part[a:b].T, block[a:b], out=table[s])
        present = groups.patterns[group:end].T.astype(np.float64)  # (d, groups in this chunk)
        np.matmul(present, table[: end - group].reshape(end - group, -1), out=product)
        replicate_sums += product
        weighted = np.hstack([part * design.weights[index, None], part[:, k:]])
        other_sums += present @ np.add.reduceat(weighted, offsets[:-1], axis=0)
        start, group = stop, end if bounds[end] == stop else end - 1
    full = other_sums[:, :width].T.reshape(2, k, d)
    per_replicate = replicate_sums.reshape(d, 2, k, n_replicates).transpose(1, 2, 0, 3)
    return _DomainSums(full, per_replicate, other_sums[:, width:].T)


def _gather_rows(replicates: np.ndarray, index: np.ndarray, out: np.ndarray, staging: np.ndarray | None) -> np.ndarray:
    """``replicates[index]`` written into the float64 buffer ``out``, with no copy of the whole matrix.

    np.take reads a C-contiguous matrix straight into a buffer of the same dtype (float32 or integer
    rows go through ``staging`` and are converted from there); it would first copy any other layout
    whole, so such a matrix is indexed instead (a temporary the size of the rows taken).
    """
    if not replicates.flags.c_contiguous:
        out[...] = replicates[index]
    elif staging is None:
        np.take(replicates, index, axis=0, out=out, mode="clip")  # mode "clip": no buffered copy of out
    else:
        np.take(replicates, index, axis=0, out=staging[: index.shape[0]], mode="clip")
        out[...] = staging[: index.shape[0]]
    return out


def _replicate_variance(theta: np.ndarray, theta_b: np.ndarray, centre: Centre, scale: float) -> np.ndarray:
    """scale · Σ_b (θ_b − c)² over the defined θ_b (R's svrVar), c = their mean or θ̂."""
    defined = np.isfinite(theta_b)
    n_defined = defined.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if centre == "replicate_mean":
            c = np.where(defined, theta_b, 0.0).sum(axis=-1) / n_defined
        else:
            c = theta
        squares = np.where(defined, (theta_b - c[..., None]) ** 2, 0.0).sum(axis=-1)
    return np.where(n_defined > 0, scale * squares, np.nan)


# ---- linearized designs -------------------------------------------------------------------------


def _linearized_table(
    design: LinearizedDesign, y: np.ndarray, valid: np.ndarray, member: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(θ̂, v, Σw, n) per (column, domain) for a linearized design, from explicit influence values."""
    n, k = y.shape
    d = member.shape[1]
    member_sparse = sparse.csc_matrix(member, dtype=np.float64)
    counts = np.rint(member_sparse.T @ valid.astype(np.float64)).astype(np.int64).T  # (k, d)
    matrices = _VarianceMatrices(design)
    theta, variance, weighted = np.empty((k, d)), np.empty((k, d)), np.empty((k, d))
    step = max(1, (4 * 2**20) // n)  # influence values of this many domains at a time
    for j in range(k):
        a = design.weights * valid[:, j]
        total = member_sparse.T @ a
        with np.errstate(invalid="ignore", divide="ignore"):
            theta[j] = (member_sparse.T @ (a * y[:, j])) / total
        weighted[j] = total
        for start in range(0, d, step):
            cells = slice(start, min(d, start + step))
            z = y[:, j, None] - theta[j, cells]  # then in place: one pass over z per step
            z *= a[:, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                z /= total[cells]
            z *= member[:, cells]
            variance[j, cells] = _linearized_variance(design, matrices, z)
    return theta, variance, weighted, counts


class _VarianceMatrices:
    """The design's strata and raking margins as the matrices ``_linearized_variance`` multiplies z by.

    ``strata``: the (H, n) stratum indicator as CSC, whose product with an (n, c) matrix reads its rows
    in order (with the CSR form the design keeps, scipy reads them category by category: slower).

    Raking: every pass of svyrecvar's loop subtracts from z a combination of the K columns of
    ``basis`` B, B[i, (m, c)] = w_m[i] when respondent i is in category c of margin m, so the
    residual is z − B·β for some (K, c) matrix β, and the passes can run on β alone: with z = z₀ − B·β,
    ave_m(z / w_m) = A_m·z₀ − (A_m·B)·β, A_m (``averages``) the (C_m, n) matrix holding
    1 / (w_m[i] · size of i's category) at (category of i, i), and A_m·B (``crossed``) only C_m × K.
    """

    strata: sparse.csc_matrix | None  # (H, n), None for a single stratum
    basis: sparse.csr_matrix  # B, (n, K)
    blocks: list[slice]  # margin m's columns of B (and rows of β)
    averages: list[sparse.csc_matrix]  # A_m, (C_m, n)
    crossed: list[np.ndarray]  # A_m·B, (C_m, K)

    def __init__(self, design: LinearizedDesign) -> None:
        strata = design._stratum_indicator
        self.strata = None if strata is None else strata.tocsc()
        margins = design._raking
        n = design.weights.shape[0]
        everyone = np.arange(n)
        offsets = np.cumsum([0] + [margin.sizes.shape[0] for margin in margins]).tolist()
        self.blocks = [slice(offsets[m], offsets[m + 1]) for m in range(len(margins))]
        self.basis = sparse.csr_matrix((n, offsets[-1]))
        for margin, block in zip(margins, self.blocks):
            self.basis += sparse.csr_matrix(
                (margin.weights, (everyone, block.start + margin.index)), shape=self.basis.shape
            )
        self.averages = [
            sparse.csc_matrix(
                (1.0 / (margin.safe_weights * margin.sizes[margin.index]), (margin.index, everyone)),
                shape=(margin.sizes.shape[0], n),
            )
            for margin in margins
        ]
        self.crossed = [(average @ self.basis).toarray() for average in self.averages]


def _linearized_variance(design: LinearizedDesign, matrices: _VarianceMatrices, z: np.ndarray) -> np.ndarray:
    """Σ_h n_h/(n_h − 1) Σ_{i∈h} (z_i − z̄_h)² per column of the (n, c) influence values z (overwritten)."""
    if design._raking:
        z -= matrices.basis @ _raking_coefficients(matrices, z)
    stratum, sizes = design._stratum, design._stratum_sizes
    if matrices.strata is None:
        z -= z.mean(axis=0)
    else:
        z -= ((matrices.strata @ z) / sizes[:, None])[stratum]
    z *= z
    return (sizes / (sizes - 1.0))[stratum] @ z


def _raking_coefficients(matrices: _VarianceMatrices, z: np.ndarray) -> np.ndarray:
    """β with z − B·β = survey:::svyrecvar's residual for a "raking" object: ten passes over the margins
    of z ← z − w_m · ave_m(z / w_m), each on β alone (see ``_VarianceMatrices``)."""
    averages = [average @ z for average in matrices.averages]  # A_m·z₀, (C_m, c)
    beta = np.zeros((matrices.basis.shape[1], z.shape[1]))
    for _ in range(RAKING_RESIDUAL_PASSES):
        for block, average, crossed in zip(matrices.blocks, averages, matrices.crossed):
            beta[block] += average - crossed @ beta
    return beta


# ---- raking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Margin:
    """Population total of each category of one variable (``codes``: the category of each respondent)."""

    codes: np.ndarray
    totals: Mapping[Hashable, float]


@dataclass(frozen=True)
class RakeReport:
    converged: bool
    iterations: int
    max_relative_error: float


def rake(
    design: Design, margins: Sequence[Margin], *, max_iterations: int = 100, tolerance: float = 1e-10
) -> tuple[Design, RakeReport]:
    """Iterative proportional fitting of the weights to the margins' totals, exactly as R's ``rake``.

    One sweep post-stratifies on each margin in the order given: w_i ← w_i · T_c / Σ_{j∈c} w_j for the
    respondent's category c. As in R (``control = list(maxit = max_iterations, epsilon = tolerance)``),
    sweeps stop when no cell of the weighted table crossing all the margins' categories moved by
    ``tolerance`` × Σ w (the weights before raking) or more during the last sweep, or after
    ``max_iterations`` sweeps. The report's ``max_relative_error`` is then measured on the margins,
    and ``converged`` is True only if the sweeps stopped so and every margin total is met to within
    √tolerance (relative): totals that no weighting of these respondents can meet (a combination of
    categories they require has no respondent) make the weights stop moving while missing them.

    For a ReplicateDesign each replicate column is raked with its own sums for the same number of
    sweeps as the full-sample weights (R's ``rake`` on a ``svrep.design`` with combined weights), so a
    slowly converging replicate may end a little off the margins, as in R. A replicate with no weight
    in a category keeps its zeros there (R gives NaN).

    For a LinearizedDesign the result carries the margins and the weights after each margin's last
    adjustment, so that its variance uses R's calibration residuals; raking an already raked
    linearized design is refused (rake the original design once with all the margins).
    """
    n = _size(design)
    if not margins:
        raise ValueError("rake needs at least one margin")
    if max_iterations < 1:
        raise ValueError("max_iterations must be at least 1")
    if not (tolerance > 0):
        raise ValueError("tolerance must be positive")
    if isinstance(design, LinearizedDesign) and design.calibration:
        raise ValueError("this design is already raked: rake the original design once with all the margins")
    prepared = [_prepare_margin(margin, design.weights, number) for number, margin in enumerate(margins, start=1)]
    joint = np.unique(np.column_stack([index for index, _, _ in prepared]), axis=0, return_inverse=True)[1]
    joint = joint.reshape(n)
    epsilon = tolerance * float(design.weights.sum())
    weights = design.weights[:, None].copy()
    table = np.bincount(joint, weights[:, 0])
    converged, iterations = False, 0
    while iterations < max_iterations and not converged:
        after_margin = _sweep(weights, prepared)
        iterations += 1
        new_table = np.bincount(joint, weights[:, 0])
        converged = float(np.max(np.abs(new_table - table))) < epsilon
        table = new_table
    error = max(
        float(np.max(np.abs(indicator @ weights[:, 0] - targets) / targets)) for _, targets, indicator in prepared
    )
    converged = converged and error <= math.sqrt(tolerance)
    report = RakeReport(converged=converged, iterations=iterations, max_relative_error=error)
    if isinstance(design, ReplicateDesign):
        replicates = _rake_replicates(design.replicates, prepared, iterations)
        return ReplicateDesign(weights[:, 0], replicates, design.centre, design.scale), report
    calibration = tuple(np.asarray(margin.codes) for margin in margins)
    after = tuple(w[:, 0] for w in after_margin)
    return LinearizedDesign(weights[:, 0], design.strata, calibration=calibration, calibration_weights=after), report


_PreparedMargin = tuple[np.ndarray, np.ndarray, sparse.csr_matrix]


def _prepare_margin(margin: Margin, weights: np.ndarray, number: int) -> _PreparedMargin:
    """(category index per respondent, target per category, (C, n) indicator) for one margin."""
    levels, index = _categories(margin.codes, weights.shape[0], f"margin {number} codes")
    sample_totals = np.bincount(index, weights, minlength=len(levels))
    targets = np.empty(len(levels))
    for c, level in enumerate(levels):
        key = level.item() if isinstance(level, np.generic) else level
        total = margin.totals.get(key)
        if total is None or not (math.isfinite(total) and total > 0):
            raise ValueError(f"margin {number}: category {key!r} is in the sample but has no population total > 0")
        if sample_totals[c] == 0:
            raise ValueError(f"margin {number}: category {key!r} has respondents but no weight")
        targets[c] = total
    present = {level.item() if isinstance(level, np.generic) else level for level in levels}
    for key, total in margin.totals.items():
        if key not in present and total:
            raise ValueError(f"margin {number}: category {key!r} has a population total but no respondent")
    return index, targets, _indicator(index, len(levels))


def _sweep(weights: np.ndarray, prepared: list[_PreparedMargin]) -> list[np.ndarray]:
    """One IPF sweep over the margins, in place on the (n, c) weights (each column on its own sums).

    Returns copies of the weights right after each margin (R's ``attr(margin, "weights")``). A column
    with no weight in a category keeps its zeros there.
    """
    after_margin = []
    for index, targets, indicator in prepared:
        sums = indicator @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            weights *= np.where(sums > 0, targets[:, None] / sums, 1.0)[index]
        after_margin.append(weights.copy())
    return after_margin


def _rake_replicates(replicates: np.ndarray, prepared: list[_PreparedMargin], sweeps: int) -> np.ndarray:
    """Every replicate column raked ``sweeps`` sweeps, in column blocks; float32 input stays float32."""
    n, n_replicates = replicates.shape
    out = np.empty((n, n_replicates), dtype=np.float32 if replicates.dtype == np.float32 else np.float64)
    step = max(1, _CHUNK_BYTES // (8 * n))
    for start in range(0, n_replicates, step):
        cols = slice(start, min(n_replicates, start + step))
        block = np.array(replicates[:, cols], dtype=np.float64)
        for _ in range(sweeps):
            _sweep(block, prepared)
        out[:, cols] = block
    return out


# ---- change and release -------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    difference: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    significant: bool


def change(before: Estimate, after: Estimate) -> Change:
    """after − before for two independent samples (waves): se = √(se_before² + se_after²), normal test.

    Matches R's ``svycontrast(svyby(~y, ~wave, stacked, svymean, covmat=TRUE), c(-1, 1))`` on the two
    waves stacked with the wave in the strata.
    """
    difference = after.estimate - before.estimate
    se = math.hypot(before.se, after.se)
    if se > 0 or math.isnan(se) or math.isnan(difference):
        z = difference / se if se > 0 else math.nan
    else:
        z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
    p_value = float(2 * norm.sf(abs(z))) if not math.isnan(z) else math.nan
    return Change(
        difference=difference,
        se=se,
        ci_low=difference - Z_95 * se,
        ci_high=difference + Z_95 * se,
        z=z,
        p_value=p_value,
        significant=bool(p_value < 0.05),
    )


def release_flag(n: int, cv: float | None) -> str:
    """Statistics Canada's release rule: "" released, "E" use with caution, "F" too unreliable.

    n < 10 → "F". Otherwise a CV (percent) rounded half-up to one decimal: above 33.3 → "F", above
    16.5 (i.e. 16.6 to 33.3) → "E", else "". An estimate of 0 (cv None) is released; an undefined CV
    (NaN) is not.
    """
    if n < MIN_RESPONDENTS:
        return "F"
    if cv is None:
        return ""
    if not math.isfinite(cv):
        return "F"
    rounded = float(Decimal(repr(float(cv))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    if rounded > CV_SUPPRESS:
        return "F"
    if rounded > CV_CAUTION:
        return "E"
    return ""
