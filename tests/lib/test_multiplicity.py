"""Benjamini–Hochberg adjusted p-values (``belonging.lib.multiplicity``): hand-computed examples, and
R's ``p.adjust(method = "BH")`` on fixed vectors (the values below were printed by R 4 with
``sprintf("%.17g", p.adjust(p, method = "BH"))``; each vector's R call is in its comment)."""

from __future__ import annotations

import math

import pytest

from belonging.lib.multiplicity import FDR, adjust_bh, significant_bh

NA = math.nan


def close(found: list[float], expected: list[float]) -> bool:
    assert len(found) == len(expected)
    return all(
        (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-14, abs=1e-300)
        for a, b in zip(found, expected, strict=True)
    )


# --- by hand -----------------------------------------------------------------------------------------


def test_four_p_values_by_hand():
    # Sorted: 0.005 (rank 1), 0.01 (2), 0.03 (3), 0.04 (4); m·p/rank = 0.02, 0.02, 0.04, 0.04;
    # running minimum from the largest down: 0.04, 0.04, 0.02, 0.02.
    assert close(adjust_bh([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02])


def test_step_up_a_larger_p_value_can_carry_a_smaller_one():
    # 0.04 alone among 2 tests: 2 × 0.04 / 1 = 0.08; but 0.045 at rank 2 gives 0.045, the smaller
    # value's adjusted p-value too: both are discoveries at 5%.
    assert close(adjust_bh([0.04, 0.045]), [0.045, 0.045])
    assert significant_bh([0.04, 0.045]) == [True, True]
    # With a third, large p-value the two are no longer discoveries: 3 × 0.045 / 2 = 0.0675.
    assert close(adjust_bh([0.04, 0.045, 0.9]), [0.0675, 0.0675, 0.9])
    assert significant_bh([0.04, 0.045, 0.9]) == [False, False, False]


def test_one_test_is_not_adjusted_and_adjusted_values_never_exceed_1():
    assert adjust_bh([0.03]) == [0.03]
    assert close(adjust_bh([0.9, 0.95, 0.99]), [0.99, 0.99, 0.99])
    assert adjust_bh([1.0, 1.0]) == [1.0, 1.0]
    assert adjust_bh([]) == [] and significant_bh([]) == []


def test_twenty_nulls_at_the_edge_are_not_all_discoveries():
    # 20 tests, one at p = 0.01 and the rest uninteresting: unadjusted it would be "real";
    # adjusted it is 20 × 0.01 = 0.2.
    p = [0.01] + [0.5 + i / 100 for i in range(19)]
    adjusted = adjust_bh(p)
    assert adjusted[0] == pytest.approx(0.2)
    assert not any(significant_bh(p))


def test_ties_share_their_adjusted_value():
    assert close(adjust_bh([0.02, 0.02, 0.02]), [0.02, 0.02, 0.02])
    assert close(adjust_bh([0.01, 0.02, 0.02]), [0.02, 0.02, 0.02])


def test_missing_p_values_stay_missing_and_do_not_count():
    found = adjust_bh([0.02, None, 0.02, NA])
    assert math.isnan(found[1]) and math.isnan(found[3])
    assert found[0] == found[2] == pytest.approx(0.02)  # m = 2, not 4
    assert significant_bh([0.02, None, NA]) == [True, False, False]


def test_out_of_range_p_values_are_refused():
    with pytest.raises(ValueError):
        adjust_bh([0.5, 1.5])
    with pytest.raises(ValueError):
        adjust_bh([-0.1])


def test_the_default_rate_is_5_percent():
    assert FDR == 0.05
    assert significant_bh([0.05]) == [True] and significant_bh([0.0500001]) == [False]
    assert significant_bh([0.04, 0.045], q=0.01) == [False, False]


# --- R's p.adjust ------------------------------------------------------------------------------------

R_CASES = [
    # p.adjust(c(0.01, 0.04, 0.03, 0.005), method = "BH")
    (
        [0.01, 0.04, 0.03, 0.005],
        [0.02, 0.040000000000000001, 0.039999999999999994, 0.02],
    ),
    # p.adjust(c(0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
    #            0.5719, 0.6528, 0.7590, 1.000), method = "BH")   (Benjamini and Hochberg's 1995 example)
    (
        [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
         0.7590, 1.000],
        [0.0015, 0.0030000000000000001, 0.0094999999999999998, 0.035624999999999997, 0.060299999999999999,
         0.063857142857142862, 0.063857142857142862, 0.064500000000000002, 0.076500000000000012,
         0.48599999999999999, 0.58118181818181813, 0.71487499999999993, 0.75323076923076926,
         0.81321428571428567, 1.0],
    ),
    # p.adjust(c(0.02, NA, 0.5, 0.02, 0.001, NA, 0.049), method = "BH")
    (
        [0.02, NA, 0.5, 0.02, 0.001, NA, 0.049],
        [0.033333333333333333, NA, 0.5, 0.033333333333333333, 0.0050000000000000001, NA, 0.061249999999999999],
    ),
    # set.seed(20260301); p <- round(c(runif(20)^3, runif(10)), 6); p.adjust(p, method = "BH")
    (
        [3.3e-05, 0.14701, 0.000933, 0.418136, 0.563618, 2e-06, 0.007155, 0.127277, 0.027896, 0.030096,
         0.967695, 0.964365, 0.000932, 0.041956, 0.889712, 0.331672, 0.250419, 0.567804, 0.634736, 0.005953,
         0.013598, 0.881051, 0.38728, 0.539515, 0.229617, 0.08296, 0.318453, 0.64288, 0.452111, 0.894481],
        [0.000495, 0.33925384615384613, 0.0069975000000000002, 0.6602147368421053, 0.74061391304347823,
         5.9999999999999995e-05, 0.035775000000000001, 0.31819249999999999, 0.10032000000000001,
         0.10032000000000001, 0.96769499999999997, 0.96769499999999997, 0.0069975000000000002,
         0.12586800000000001, 0.95837249999999996, 0.58530352941176478, 0.50083800000000001,
         0.74061391304347823, 0.77145600000000003, 0.035718, 0.058277142857142861, 0.95837249999999996,
         0.64546666666666674, 0.74061391304347823, 0.49203642857142854, 0.22625454545454546,
         0.58530352941176478, 0.77145600000000003, 0.67816650000000001, 0.95837249999999996],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("p", "expected"), R_CASES)
def test_agrees_with_r(p, expected):
    assert close(adjust_bh(p), expected)
    assert significant_bh(p) == [not math.isnan(e) and e <= 0.05 for e in expected]
