"""Tests for belonging.lib.survey: every number R's `survey` package gives on its own `api` data, and
properties that must hold for any data (pure NumPy, no Django needed).

Tolerance against R: |ours − R's| ≤ 1e-8 · max(1, |R's|), i.e. absolute 1e-8 for proportions and
standard errors below 1, relative 1e-8 for larger numbers (API scores, weighted counts, weights).
"""

from __future__ import annotations

import csv
import functools
import json
import math
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from belonging.lib import survey
from belonging.lib.survey import (
    CV_CAUTION,
    CV_SUPPRESS,
    MIN_RESPONDENTS,
    Z_95,
    Estimate,
    LinearizedDesign,
    Margin,
    ReplicateDesign,
    change,
    estimate_table,
    mean,
    proportion,
    rake,
    release_flag,
)

FIXTURES = Path(__file__).parent / "survey_fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
TOLERANCE = 1e-8
STYPE = {"E": 1.0, "H": 2.0, "M": 3.0}
TEXT_COLUMNS = {"cds", "stype"}


def close(ours: float, theirs: float, tolerance: float = TOLERANCE) -> bool:
    return abs(ours - theirs) <= tolerance * max(1.0, abs(theirs))


# ---- fixtures as designs ------------------------------------------------------------------------


def read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    columns = {}
    for j, name in enumerate(header):
        cells = [row[j] for row in body]
        if name in TEXT_COLUMNS:
            columns[name] = np.array(cells)
        else:
            columns[name] = np.array([float(cell) if cell else math.nan for cell in cells])
    return columns


@functools.cache
def data(name: str) -> dict[str, np.ndarray]:
    return read_csv(FIXTURES / name)


def replicate_columns(columns: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([columns[f"bsw{b}"] for b in range(1, EXPECTED["replicates"] + 1)])


def values_of(columns: dict[str, np.ndarray], variable: str) -> np.ndarray:
    if variable == "stype":
        return np.array([STYPE[s] for s in columns["stype"]])
    return columns[variable]


def margin_of(columns: dict[str, np.ndarray], spec: dict) -> Margin:
    variable = spec["variable"]
    if variable == "stype":  # text codes, as given to R
        return Margin(codes=columns["stype"], totals=spec["totals"])
    return Margin(codes=columns[variable], totals={float(k): v for k, v in spec["totals"].items()})


def data_of(name: str) -> dict[str, np.ndarray]:
    spec = EXPECTED["designs"][name]
    return data_of(spec["rake_of"]) if "rake_of" in spec else data(spec["data"])


@functools.cache
def design(name: str) -> survey.Design:
    spec = EXPECTED["designs"][name]
    if "rake_of" in spec:
        columns = data_of(name)
        control = EXPECTED["rake_control"]  # R's rake(control = list(maxit, epsilon))
        raked, report = rake(
            design(spec["rake_of"]),
            [margin_of(columns, m) for m in spec["margins"]],
            max_iterations=control["maxit"],
            tolerance=control["epsilon"],
        )
        assert report.converged and report.max_relative_error < 1e-10
        return raked
    columns = data(spec["data"])
    if spec["type"] == "linearized":
        strata = columns[spec["strata"]] if spec["strata"] else None
        return LinearizedDesign(weights=columns["pw"], strata=strata)
    return ReplicateDesign(
        weights=columns["pw"], replicates=replicate_columns(columns), centre=spec["centre"], scale=spec["scale"]
    )


def domain_mask(columns: dict[str, np.ndarray], domain: dict | None) -> np.ndarray | None:
    if domain is None:
        return None
    mask = np.ones(len(columns["pw"]), dtype=bool)
    for variable, value in domain.items():
        mask &= columns[variable] == (value if variable == "stype" else float(value))
    return mask


def categories_of(case: dict) -> list[float] | None:
    if case["categories"] is None:
        return None
    return [STYPE[c] if isinstance(c, str) else float(c) for c in case["categories"]]


def estimate_case(case: dict) -> Estimate:
    columns = data_of(case["design"])
    values = values_of(columns, case["variable"])
    domain = domain_mask(columns, case["domain"])
    categories = categories_of(case)
    if categories is None:
        return mean(design(case["design"]), values, domain)
    return proportion(design(case["design"]), values, categories, domain)


def mismatches(ours: Estimate, case: dict) -> list[str]:
    wrong = [
        f"{key}: ours {getattr(ours, key)!r}, R {case[key]!r}"
        for key in ("estimate", "se", "ci_low", "ci_high", "weighted_n")
        if not close(getattr(ours, key), case[key])
    ]
    if ours.n != case["n"]:
        wrong.append(f"n: ours {ours.n}, R {case['n']}")
    return wrong


DESIGNS = list(EXPECTED["designs"])


def cases_of(name: str) -> list[dict]:
    return [case for case in EXPECTED["cases"] if case["design"] == name]


# ---- against R ----------------------------------------------------------------------------------


def test_fixtures_cover_what_they_should():
    kinds = {EXPECTED["designs"][name].get("type", "raked") for name in DESIGNS}
    assert kinds == {"linearized", "replicate", "raked"}
    assert {spec.get("centre") for spec in EXPECTED["designs"].values()} >= {"replicate_mean", "full_sample"}
    domains = {tuple(sorted(case["domain"] or {})) for case in EXPECTED["cases"]}
    assert domains == {(), ("stype",), ("awards", "stype")}
    assert all(cases_of(name) for name in DESIGNS)
    assert len(EXPECTED["cases"]) > 400 and len(EXPECTED["rakes"]) == 5 and len(EXPECTED["changes"]) == 3
    assert Z_95 == pytest.approx(EXPECTED["qnorm_975"], rel=1e-15)  # R's qnorm is 1 ulp below SciPy's


@pytest.mark.parametrize("name", DESIGNS)
def test_mean_and_proportion_match_R(name):
    """svymean / svyby(…, svymean, na.rm=TRUE) / confint, one call per cell."""
    wrong = {}
    for case in cases_of(name):
        problems = mismatches(estimate_case(case), case)
        if problems:
            wrong[f"{case['spec']} {case['categories']} {case['domain']}"] = problems
    assert not wrong


@pytest.mark.parametrize("name", DESIGNS)
def test_estimate_table_matches_R(name):
    """The vectorized path: all of a design's cells in one estimate_table call."""
    cases = cases_of(name)
    columns = data_of(name)
    variables = sorted({(c["variable"], json.dumps(c["categories"])) for c in cases})
    domains = sorted({json.dumps(c["domain"], sort_keys=True) for c in cases})
    table_values = []
    for variable, categories_json in variables:
        values = values_of(columns, variable)
        categories = categories_of({"categories": json.loads(categories_json)})
        if categories is not None:
            values = np.where(np.isnan(values), np.nan, np.isin(values, categories).astype(float))
        table_values.append(values)
    masks = [domain_mask(columns, json.loads(d)) for d in domains]
    masks = [np.ones(len(columns["pw"]), dtype=bool) if m is None else m for m in masks]
    table = estimate_table(design(name), np.column_stack(table_values), np.column_stack(masks))
    for case in cases:
        j = variables.index((case["variable"], json.dumps(case["categories"])))
        ours = table[j][domains.index(json.dumps(case["domain"], sort_keys=True))]
        assert not mismatches(ours, case), (case["spec"], case["categories"], case["domain"])


@pytest.mark.parametrize("name", sorted(EXPECTED["rakes"]))
def test_raked_weights_match_R(name):
    """rake(…, control = list(maxit = 100, epsilon = 1e-12)): weights and replicate weights."""
    expected = EXPECTED["rakes"][name]
    raked = design(name)
    assert np.allclose(raked.weights, expected["weights"], rtol=TOLERANCE, atol=TOLERANCE)
    if isinstance(raked, ReplicateDesign):
        first = np.column_stack(expected["replicates_1_to_3"])
        assert np.allclose(raked.replicates[:, :3], first, rtol=TOLERANCE, atol=TOLERANCE)
        api00 = data_of(name)["api00"]
        replicate_means = (raked.replicates.T @ api00) / raked.replicates.sum(axis=0)
        assert np.allclose(replicate_means, expected["api00_replicate_means"], rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("case", EXPECTED["changes"], ids=lambda case: case["id"])
def test_change_matches_R_stacked_waves(case):
    """svycontrast(svyby(~y, ~wave, stacked, svymean, covmat=TRUE), c(-1, 1)) = our change()."""
    estimates = {}
    for wave in ("before", "after"):
        spec = case[wave]
        columns = data_of(spec["design"])
        ours = mean(design(spec["design"]), columns[spec["variable"]], domain_mask(columns, spec["domain"]))
        assert close(ours.estimate, spec["estimate"]) and close(ours.se, spec["se"])
        estimates[wave] = ours
    # Independent waves: R's SE from the stacked design is √(v1 + v2).
    assert math.isclose(case["se"], case["se_sqrt_sum"], rel_tol=1e-12)
    ours = change(estimates["before"], estimates["after"])
    for key in ("difference", "se", "ci_low", "ci_high", "z", "p_value"):
        assert close(getattr(ours, key), case[key]), key
    assert ours.significant == (case["p_value"] < 0.05)


def r_with_survey() -> str | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    probe = subprocess.run([rscript, "-e", "library(survey)"], check=False, capture_output=True, timeout=60)
    return rscript if probe.returncode == 0 else None


def assert_same(ours, committed, where: str = "") -> None:
    if isinstance(committed, dict):
        assert isinstance(ours, dict) and ours.keys() == committed.keys(), where
        for key in committed:
            if key not in ("r_version", "survey_version"):
                assert_same(ours[key], committed[key], f"{where}.{key}")
    elif isinstance(committed, list):
        assert isinstance(ours, list) and len(ours) == len(committed), where
        for i, (a, b) in enumerate(zip(ours, committed, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(committed, float | int) and not isinstance(committed, bool):
        assert math.isclose(ours, committed, rel_tol=1e-12, abs_tol=1e-14), (where, ours, committed)
    else:
        assert ours == committed, where


def test_fixtures_are_still_what_R_says(tmp_path):
    """Re-runs make_fixtures.R and compares every number and every data file with the committed ones."""
    rscript = r_with_survey()
    if rscript is None:
        reason = (
            "Rscript with the `survey` package is not installed, so the committed R fixtures are not regenerated "
            "(the other tests still check them). Install: apt-get install r-base-core r-cran-survey "
            "(Debian/Ubuntu), or install R and run install.packages('survey')."
        )
        print(reason)
        pytest.skip(reason)
    subprocess.run([rscript, str(FIXTURES / "make_fixtures.R"), str(tmp_path)], check=True, capture_output=True)
    committed_files = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".csv", ".json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == committed_files
    for name in committed_files:
        if name.endswith(".json"):
            fresh, committed = json.loads((tmp_path / name).read_text()), EXPECTED
            if (fresh["r_version"], fresh["survey_version"]) != (EXPECTED["r_version"], EXPECTED["survey_version"]):
                print(
                    f"R {fresh['r_version']} / survey {fresh['survey_version']} here; fixtures from "
                    f"R {EXPECTED['r_version']} / survey {EXPECTED['survey_version']}"
                )
        else:
            fresh, committed = read_csv(tmp_path / name), data(name)
            assert fresh.keys() == committed.keys()
            fresh = {k: v.tolist() for k, v in fresh.items()}
            committed = {
                k: [None if isinstance(x, float) and math.isnan(x) else x for x in v.tolist()]
                for k, v in committed.items()
            }
            fresh = {k: [None if isinstance(x, float) and math.isnan(x) else x for x in v] for k, v in fresh.items()}
        assert_same(fresh, committed, name)


# ---- release rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "cv", "flag"),
    [
        (9, 1.0, "F"),  # too few respondents, however precise
        (9, None, "F"),
        (10, 16.5, ""),
        (10, 16.54, ""),  # rounds to 16.5
        (10, 16.55, "E"),  # rounds half up to 16.6
        (10, 16.6, "E"),
        (10, 33.3, "E"),
        (10, 33.34, "E"),
        (10, 33.35, "F"),
        (10, 33.4, "F"),
        (10, None, ""),  # estimate 0
        (10, math.nan, "F"),
        (10, 0.0, ""),
    ],
)
def test_release_flag(n, cv, flag):
    assert release_flag(n, cv) == flag


def test_release_constants():
    assert (MIN_RESPONDENTS, CV_CAUTION, CV_SUPPRESS) == (10, 16.5, 33.3)


def small_design(n: int = 30, centre: str = "replicate_mean") -> ReplicateDesign:
    rng = np.random.default_rng(7)
    weights = rng.uniform(1, 5, n)
    return ReplicateDesign(weights, weights[:, None] * rng.integers(0, 3, (n, 20)), centre)


def test_estimates_carry_their_flags():
    design = small_design()
    y = np.arange(30.0)
    nine = np.zeros(30, dtype=bool)
    nine[:9] = True
    assert mean(design, y, nine).flag == "F" and mean(design, y, nine).n == 9
    zero = proportion(design, y, [99.0])
    assert (zero.estimate, zero.se, zero.cv, zero.flag) == (0.0, 0.0, None, "")
    everyone = mean(design, y)
    assert everyone.cv == pytest.approx(100 * everyone.se / everyone.estimate)
    assert everyone.flag == release_flag(30, everyone.cv)
    assert everyone.ci_low == pytest.approx(everyone.estimate - Z_95 * everyone.se)


def test_empty_domain_and_missing_answers():
    design = small_design()
    y = np.full(30, np.nan)
    y[:5] = 1.0
    empty = mean(design, y, np.arange(30) >= 5)
    assert empty.n == 0 and math.isnan(empty.estimate) and math.isnan(empty.se) and empty.flag == "F"
    assert mean(design, y).n == 5 and mean(design, y).estimate == 1.0
    linear = mean(LinearizedDesign(design.weights), y, np.arange(30) >= 5)
    assert linear.n == 0 and math.isnan(linear.estimate) and linear.flag == "F"


# ---- validation ---------------------------------------------------------------------------------


def test_designs_validate_their_inputs():
    w = np.ones(4)
    reps = np.ones((4, 3))
    with pytest.raises(ValueError, match="shape"):
        ReplicateDesign(w, np.ones((5, 3)), "replicate_mean")
    with pytest.raises(ValueError, match="at least 2 replicates"):
        ReplicateDesign(w, np.ones((4, 1)), "replicate_mean")
    with pytest.raises(ValueError, match="unknown centre"):
        ReplicateDesign(w, reps, "median")
    with pytest.raises(ValueError, match="negative"):
        ReplicateDesign(np.array([1.0, -1, 1, 1]), reps, "full_sample")
    with pytest.raises(ValueError, match="all zero"):
        ReplicateDesign(np.zeros(4), reps, "full_sample")
    with pytest.raises(ValueError, match="negative"):
        ReplicateDesign(w, -reps, "full_sample")
    with pytest.raises(ValueError, match="finite"):
        ReplicateDesign(w, np.full((4, 3), np.nan), "full_sample")
    with pytest.raises(ValueError, match="scale"):
        ReplicateDesign(w, reps, "full_sample", scale=0.0)
    with pytest.raises(ValueError, match="single respondent"):
        LinearizedDesign(w, strata=np.array(["a", "a", "a", "b"]))
    with pytest.raises(ValueError, match="shape"):
        LinearizedDesign(w, strata=np.array(["a", "a"]))
    with pytest.raises(ValueError, match="missing"):
        LinearizedDesign(w, strata=np.array([1.0, 1.0, np.nan, np.nan]))


def test_estimates_validate_their_inputs():
    design = ReplicateDesign(np.ones(4), np.ones((4, 3)), "replicate_mean")
    with pytest.raises(ValueError, match="shape"):
        mean(design, np.ones(5))
    with pytest.raises(ValueError, match="shape"):
        mean(design, np.ones(4), np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="booleans"):
        mean(design, np.ones(4), np.array([0, 2, 1, 1]))
    with pytest.raises(ValueError, match="infinite"):
        mean(design, np.array([1.0, np.inf, 1, 1]))
    with pytest.raises(ValueError, match="numbers"):
        mean(design, np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="shape"):
        estimate_table(design, np.ones((4, 2)), np.ones((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="empty"):
        proportion(design, np.ones(4), [])


def test_rake_validates_margins():
    design = LinearizedDesign(np.ones(4))
    codes = np.array(["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="'b'"):
        rake(design, [Margin(codes, {"a": 2.0})])
    with pytest.raises(ValueError, match="'b'"):
        rake(design, [Margin(codes, {"a": 2.0, "b": 0.0})])
    with pytest.raises(ValueError, match="'c'"):
        rake(design, [Margin(codes, {"a": 2.0, "b": 2.0, "c": 1.0})])
    with pytest.raises(ValueError, match="at least one margin"):
        rake(design, [])
    raked, _ = rake(design, [Margin(codes, {"a": 2.0, "b": 2.0, "c": 0.0})])
    with pytest.raises(ValueError, match="already raked"):
        rake(raked, [Margin(codes, {"a": 2.0, "b": 2.0})])


# ---- properties ---------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def samples(draw, min_n: int = 12, max_n: int = 40):
    """(weights, replicate weights, values with NaN, domain, strata) from one seed and sizes."""
    n = draw(st.integers(min_n, max_n))
    n_replicates = draw(st.integers(2, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.uniform(0.5, 50, n)
    replicates = weights[:, None] * rng.integers(0, 3, (n, n_replicates))
    values = rng.normal(draw(st.floats(-100, 100)), 10, n)
    values[rng.random(n) < draw(st.floats(0, 0.4))] = np.nan
    domain = rng.random(n) < draw(st.floats(0.2, 1))
    strata = np.arange(n) // 4  # strata of 4, the last one of 2 to 5
    if n % 4 == 1:
        strata[-1] = strata[-2]
    return weights, replicates, values, domain, strata


def designs_of(weights, replicates, strata, scale_by: float = 1.0) -> list[survey.Design]:
    return [
        ReplicateDesign(weights * scale_by, replicates * scale_by, "replicate_mean"),
        ReplicateDesign(weights * scale_by, replicates * scale_by, "full_sample"),
        LinearizedDesign(weights * scale_by),
        LinearizedDesign(weights * scale_by, strata=strata),
    ]


def same(a: float, b: float, rel: float = 1e-9) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


@PROPERTY_SETTINGS
@given(samples(), st.floats(1e-3, 1e3))
def test_scaling_every_weight_changes_no_estimate(sample, factor):
    weights, replicates, values, domain, strata = sample
    for plain, scaled in zip(designs_of(weights, replicates, strata), designs_of(weights, replicates, strata, factor)):
        a, b = mean(plain, values, domain), mean(scaled, values, domain)
        assert same(a.estimate, b.estimate) and same(a.se, b.se) and a.n == b.n and a.flag == b.flag
        assert same(a.weighted_n * factor, b.weighted_n)


@PROPERTY_SETTINGS
@given(samples())
def test_domain_estimate_equals_the_estimate_on_the_subset(sample):
    weights, replicates, values, domain, strata = sample
    assume(np.any(domain & ~np.isnan(values)) and domain.sum() >= 2)
    for centre in ("replicate_mean", "full_sample"):
        whole = mean(ReplicateDesign(weights, replicates, centre), values, domain)
        part = mean(ReplicateDesign(weights[domain], replicates[domain], centre), values[domain])
        assert same(whole.estimate, part.estimate) and same(whole.se, part.se) and whole.n == part.n
    # Linearized: the same point estimate, but a different SE (domain estimation keeps n_h).
    for whole_design, part_design in [
        (LinearizedDesign(weights), LinearizedDesign(weights[domain])),
        (LinearizedDesign(weights, strata=strata), LinearizedDesign(weights[domain])),
    ]:
        assert same(mean(whole_design, values, domain).estimate, mean(part_design, values[domain]).estimate)


@PROPERTY_SETTINGS
@given(samples(), st.integers(1, 3), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_estimate_table_equals_mean_per_cell(sample, k, d, seed):
    weights, replicates, _, _, strata = sample
    n = len(weights)
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 1, (n, k))
    values[rng.random((n, k)) < 0.2] = np.nan
    domains = rng.random((n, d)) < 0.5
    domains[:, 0] = True  # everyone, overlapping every other domain
    for design in designs_of(weights, replicates, strata):
        table = estimate_table(design, values, domains)
        for j in range(k):
            for c in range(d):
                one = mean(design, values[:, j], domains[:, c])
                cell = table[j][c]
                assert cell.n == one.n and same(cell.estimate, one.estimate) and same(cell.se, one.se)
                assert same(cell.weighted_n, one.weighted_n) and cell.flag == one.flag


def dense_replicate_table(weights, replicates, values, domains, centre, scale=None):
    """(estimate, se, weighted_n, n), each (k, d), by the definitions: every replicate column times every cell."""
    reps = np.asarray(replicates, dtype=np.float64)
    valid = ~np.isnan(values)
    y = np.where(valid, values, 0.0)
    n_replicates = reps.shape[1]
    scale = 1.0 / (n_replicates - 1) if scale is None else scale
    k, d = values.shape[1], domains.shape[1]
    estimate, se, weighted, counts = (np.empty((k, d)) for _ in range(4))
    for j in range(k):
        for c in range(d):
            cell = domains[:, c] & valid[:, j]
            counts[j, c] = cell.sum()
            weighted[j, c] = weights[cell].sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                estimate[j, c] = (weights[cell] * y[cell, j]).sum() / weighted[j, c]
                theta_b = (y[cell, j] @ reps[cell]) / reps[cell].sum(axis=0)
            defined = theta_b[np.isfinite(theta_b)]
            if defined.size == 0:
                se[j, c] = math.nan
                continue
            centre_value = defined.mean() if centre == "replicate_mean" else estimate[j, c]
            se[j, c] = math.sqrt(scale * ((defined - centre_value) ** 2).sum())
    estimate[counts == 0] = se[counts == 0] = math.nan
    return estimate, se, weighted, counts


def table_arrays(table: list[list[Estimate]]) -> tuple[np.ndarray, ...]:
    return tuple(
        np.array([[getattr(cell, key) for cell in row] for row in table])
        for key in ("estimate", "se", "weighted_n", "n")
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [7, 70])  # 70 domains: membership patterns wider than one 64-bit word
@pytest.mark.parametrize("chunk_bytes", [None, 3000])  # 3,000 bytes: groups split over many chunks
def test_estimate_table_equals_a_dense_computation(tmp_path, monkeypatch, dtype, d, chunk_bytes):
    """Overlapping domains, an empty domain, missing answers, a replicate undefined in a small domain,
    respondents in no domain, and the replicate matrix a read-only memory map."""
    if chunk_bytes is not None:
        monkeypatch.setattr(survey, "_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(d)
    n, n_replicates, k = 2000, 30, 3
    weights = rng.uniform(0.5, 4, n)
    weights[:20] = 0.0
    replicates = weights[:, None] * rng.integers(0, 3, (n, n_replicates))
    values = rng.normal(50, 10, (n, k))
    values[rng.random((n, k)) < 0.1] = np.nan
    values[:30] = np.nan  # no valid answer at all
    group = rng.integers(0, 5, n)
    domains = np.column_stack(
        [np.ones(n, dtype=bool)]  # everyone, overlapping every other domain
        + [group == g for g in range(5)]
        + [(group == g) & (rng.random(n) < 0.5) for g in range(5)]  # nested in the groups
        + [rng.random(n) < 0.4 for _ in range(d - 11)]
    )[:, :d]
    domains[:, 0] = rng.random(n) < 0.9  # some respondents in no domain
    domains[:, -1] = False  # no one
    domains[:, 1] = np.arange(n) < 40  # ten or so valid answers each, and a replicate with no weight there
    replicates[:40, 3] = 0.0
    path = tmp_path / "replicates.npy"
    np.save(path, replicates.astype(dtype))
    mapped = np.load(path, mmap_mode="r")
    assert not mapped.flags.writeable
    for centre in ("replicate_mean", "full_sample"):
        table = estimate_table(ReplicateDesign(weights, mapped, centre), values, domains)
        ours = table_arrays(table)
        expected = dense_replicate_table(weights, mapped, values, domains, centre)
        np.testing.assert_array_equal(ours[3], expected[3])
        for got, want in zip(ours[:3], expected[:3]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
        assert np.isnan(ours[0][:, -1]).all() and np.isnan(ours[1][:, -1]).all() and (ours[3][:, -1] == 0).all()
        assert np.all(np.isfinite(ours[1][:, :-1]))  # the undefined replicate is left out, not propagated


def test_raked_linearized_table_equals_the_residual_passes():
    """The raking residuals, computed in the small space of the margins' categories, equal R's ten passes over z."""
    rng = np.random.default_rng(8)
    n = 600
    weights = rng.uniform(1, 3, n)
    weights[:4] = 0.0
    strata = rng.integers(0, 6, n)
    codes = [rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(0, 2, n)]
    margins = [Margin(c, dict(enumerate(1200.0 * np.bincount(c) / n))) for c in codes]  # one population total
    raked, report = rake(LinearizedDesign(weights, strata=strata), margins)
    assert report.converged
    values = rng.normal(size=(n, 2))
    values[rng.random((n, 2)) < 0.1] = np.nan
    domains = np.column_stack([np.ones(n, dtype=bool), codes[0] == 1, rng.random(n) < 0.3, np.zeros(n, dtype=bool)])
    table = estimate_table(raked, values, domains)
    valid = ~np.isnan(values)
    for j in range(2):
        for c in range(domains.shape[1]):
            a = raked.weights * valid[:, j] * domains[:, c]
            if not a.any():
                assert math.isnan(table[j][c].se)
                continue
            theta = (a * np.where(valid[:, j], values[:, j], 0.0)).sum() / a.sum()
            z = a * (np.where(valid[:, j], values[:, j], theta) - theta) / a.sum()
            for _ in range(survey.RAKING_RESIDUAL_PASSES):
                for m, margin_codes in enumerate(raked.calibration):
                    w_m = raked.calibration_weights[m]
                    ratio = z / np.where(w_m > 0, w_m, 1.0)
                    z = z - w_m * (np.bincount(margin_codes, ratio) / np.bincount(margin_codes))[margin_codes]
            variance = 0.0
            for h in range(6):
                z_h = z[strata == h]
                variance += z_h.size / (z_h.size - 1.0) * ((z_h - z_h.mean()) ** 2).sum()
            assert table[j][c].estimate == pytest.approx(theta, rel=1e-12)
            assert table[j][c].se == pytest.approx(math.sqrt(variance), rel=1e-9)


@PROPERTY_SETTINGS
@given(samples())
def test_float32_replicates_give_the_same_result(sample):
    weights, replicates, values, domain, _ = sample
    assume(np.any(domain & ~np.isnan(values)))
    a = mean(ReplicateDesign(weights, replicates, "replicate_mean"), values, domain)
    b = mean(ReplicateDesign(weights, replicates.astype(np.float32), "replicate_mean"), values, domain)
    assert a.estimate == b.estimate
    assert same(a.se, b.se, rel=1e-5) or abs(a.se - b.se) <= 1e-6 * max(1.0, abs(a.estimate))


def test_replicates_are_read_in_blocks_not_copied(monkeypatch):
    """A float32, Fortran-ordered replicate matrix is never converted whole to float64."""
    rng = np.random.default_rng(11)
    n, n_replicates = 20_000, 100
    weights = rng.uniform(1, 3, n)
    replicates = np.asfortranarray((weights[:, None] * rng.integers(0, 3, (n, n_replicates))).astype(np.float32))
    values = rng.normal(size=(n, 2))
    domains = np.column_stack([np.ones(n, dtype=bool), rng.random(n) < 0.5])
    design = ReplicateDesign(weights, replicates, "full_sample")
    monkeypatch.setattr(survey, "_CHUNK_BYTES", 2**20)
    tracemalloc.start()
    table = estimate_table(design, values, domains)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < n * n_replicates * 8 / 2  # a float64 copy would be 16 MB
    exact = estimate_table(
        ReplicateDesign(weights, np.ascontiguousarray(replicates, np.float64), "full_sample"), values, domains
    )
    assert all(same(a.se, b.se, 1e-12) for ra, rb in zip(table, exact) for a, b in zip(ra, rb))


@PROPERTY_SETTINGS
@given(samples(min_n=20), st.integers(0, 2**32 - 1))
def test_raking_reproduces_the_margins(sample, seed):
    weights, replicates, values, _, strata = sample
    n = len(weights)
    rng = np.random.default_rng(seed)
    first = np.array(["a", "b", "c"])[np.arange(n) % 3]
    second = (rng.random(n) < 0.5).astype(float)
    assume(len(set(zip(first, second))) == 6)  # every combination has respondents: the margins can be met
    targets = [{"a": 100.0, "b": 250.0, "c": 50.0}, {0.0: 180.0, 1.0: 220.0}]
    margins = [Margin(first, targets[0]), Margin(second, targets[1])]
    replicates = replicates + weights[:, None]  # every respondent in every replicate
    for design in [ReplicateDesign(weights, replicates, "replicate_mean"), LinearizedDesign(weights, strata)]:
        raked, report = rake(design, margins, tolerance=1e-13)
        assert report.converged and report.max_relative_error < 1e-9 and report.iterations >= 1
        for margin, target in zip(margins, targets):
            for code, total in target.items():
                assert raked.weights[margin.codes == code].sum() == pytest.approx(total, rel=1e-9)
        if isinstance(raked, ReplicateDesign):  # as many sweeps as the full sample: the last margin is exact
            for code, total in targets[-1].items():
                assert np.allclose(raked.replicates[margins[-1].codes == code].sum(axis=0), total, rtol=1e-12)
        estimate = mean(raked, values)
        assert math.isfinite(estimate.estimate) or estimate.n == 0


def test_raking_to_margins_that_cannot_be_met_does_not_converge():
    codes_a = np.array(["x", "x", "y", "y"])
    codes_b = np.array([0.0, 0.0, 1.0, 1.0])  # the same split: the totals below contradict each other
    _, report = rake(
        LinearizedDesign(np.ones(4)), [Margin(codes_a, {"x": 10.0, "y": 10.0}), Margin(codes_b, {0.0: 5.0, 1.0: 15.0})]
    )
    assert not report.converged and report.max_relative_error > 0.1


def test_raking_a_calibrated_margin_leaves_no_variance():
    """After raking on a 0/1 variable, its proportion is fixed by the population: SE 0 (as in R)."""
    rng = np.random.default_rng(5)
    n = 60
    weights = rng.uniform(1, 3, n)
    group = (np.arange(n) % 3 == 0).astype(float)
    margin = Margin(group, {0.0: 400.0, 1.0: 100.0})
    for design in [
        LinearizedDesign(weights),
        ReplicateDesign(weights, weights[:, None] * rng.integers(1, 3, (n, 9)), "replicate_mean"),
    ]:
        raked, _ = rake(design, [margin])
        share = mean(raked, group)
        assert share.estimate == pytest.approx(0.2) and share.se == pytest.approx(0, abs=1e-12)


def test_change_significance():
    def est(value: float, se: float) -> Estimate:
        return Estimate(value, se, value - Z_95 * se, value + Z_95 * se, 100 * se / value, 100, 1.0, "")

    big = change(est(0.50, 0.01), est(0.55, 0.01))
    assert big.difference == pytest.approx(0.05) and big.se == pytest.approx(math.sqrt(2) * 0.01)
    assert big.z == pytest.approx(0.05 / (math.sqrt(2) * 0.01)) and big.significant and big.p_value < 0.001
    small = change(est(0.50, 0.01), est(0.52, 0.01))
    assert not small.significant and small.p_value == pytest.approx(0.1573, abs=1e-4)
    assert (small.ci_low < 0 < small.ci_high) and not (big.ci_low < 0 < big.ci_high)
    assert change(est(1.0, 0.0), est(1.0, 0.0)).p_value == 1.0
    assert change(est(1.0, 0.0), est(2.0, 0.0)).significant


@PROPERTY_SETTINGS
@given(st.floats(-1e3, 1e3), st.floats(1e-6, 1e2), st.floats(-1e3, 1e3), st.floats(1e-6, 1e2))
def test_change_is_a_two_sided_normal_test(a, se_a, b, se_b):
    def est(value: float, se: float) -> Estimate:
        return Estimate(value, se, value - Z_95 * se, value + Z_95 * se, None, 100, 1.0, "")

    forward, backward = change(est(a, se_a), est(b, se_b)), change(est(b, se_b), est(a, se_a))
    assert forward.difference == -backward.difference and forward.p_value == backward.p_value
    assert forward.significant == (forward.p_value < 0.05)
    if abs(abs(forward.z) - Z_95) > 1e-9:
        assert forward.significant == (abs(forward.z) > Z_95) == (forward.ci_low > 0 or forward.ci_high < 0)
