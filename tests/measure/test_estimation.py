"""Computing a wave's estimates: one cell checked by hand, release flags, missing answers left out,
raking (its report stored, the margins reproduced by the raked weights, the rules for missing answers
and for categories nobody chose), imported bootstrap weights with the wave's centring, designs that
must not mix, staleness, and publishing (through the task and the pages)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from belonging.lib import survey
from belonging.measure import estimation, imports
from belonging.measure.models import Estimate, Margin, Wave
from tests.measure.conftest import add_response
from tests.measure.test_imports import CCHS, MAPPING

pytestmark = pytest.mark.django_db

Z = 1.959963984540054  # qnorm(0.975)
STRONG = {"very_strong", "somewhat_strong"}

# (sense of belonging, weight, gender): 12 respondents; three women.
PEOPLE = [
    ("very_strong", 1.0, "man"),
    ("somewhat_strong", 2.0, "woman"),
    ("somewhat_weak", 1.5, "man"),
    ("very_weak", 0.5, "man"),
    ("very_strong", 3.0, "woman"),
    ("somewhat_strong", 1.0, "man"),
    ("no_opinion", 2.5, "man"),
    ("somewhat_weak", 1.0, "woman"),
    ("very_strong", 0.8, "man"),
    ("somewhat_strong", 1.2, "man"),
    ("very_weak", 2.0, "man"),
    ("somewhat_strong", 1.5, "man"),
]


def add_people(wave: Wave, people=PEOPLE, **extra) -> None:
    for belonging, weight, gender in people:
        add_response(wave, {"css_belonging": belonging, "gender": gender, **extra}, weight=weight)


def cell(wave: Wave, indicator: str, domain: str = "all") -> Estimate:
    return Estimate.objects.get(wave=wave, indicator=indicator, domain=domain)


# --- one cell by hand -------------------------------------------------------------------------------


def test_one_cell_computed_by_hand(wave):
    add_people(wave)
    computation = estimation.compute_estimates(wave)

    w = np.array([p[1] for p in PEOPLE])
    y = np.array([1.0 if p[0] in STRONG else 0.0 for p in PEOPLE])  # "no opinion" is an answer: 0
    share = (w * y).sum() / w.sum()
    assert share == pytest.approx(10.5 / 18.0)  # strong: 1 + 2 + 3 + 1 + 0.8 + 1.2 + 1.5, of 18
    # Linearization (R's svymean with ids=~1): influence z = w (y − p) / Σw, variance n/(n−1) Σ z².
    z = w * (y - share) / w.sum()
    se = math.sqrt(len(w) / (len(w) - 1) * (z**2).sum())
    found = cell(wave, "css_belonging")
    assert found.estimate == pytest.approx(share, rel=1e-12)
    assert found.se == pytest.approx(se, rel=1e-10)
    assert found.ci_low == pytest.approx(share - Z * se, rel=1e-10)
    assert found.ci_high == pytest.approx(share + Z * se, rel=1e-10)
    assert found.cv == pytest.approx(100 * se / share, rel=1e-10)
    assert found.n == 12 and found.weighted_n == pytest.approx(18.0)
    assert found.flag == survey.release_flag(12, found.cv)
    assert computation["design"] == "linearized" and computation["n"] == 12 and computation["rake"] is None
    assert computation["estimates"] == Estimate.objects.filter(wave=wave).count()
    wave.refresh_from_db()
    assert wave.computed_at is not None and wave.computation["fingerprint"]["responses"] == 12


def test_every_indicator_and_domain_with_respondents_gets_a_row_and_empty_cells_none(wave):
    add_people(wave, province="ON")
    estimation.compute_estimates(wave)
    rows = set(Estimate.objects.filter(wave=wave).values_list("indicator", "domain"))
    assert ("css_belonging", "all") in rows and ("css_belonging", "province:ON") in rows
    assert ("css_belonging", "community:women") in rows
    assert not any(domain == "province:QC" for _i, domain in rows)  # nobody: no row
    assert not any(indicator == "power" for indicator, _d in rows)  # nobody answered it: no row


def test_a_community_with_fewer_than_ten_respondents_is_suppressed(wave):
    add_people(wave)
    estimation.compute_estimates(wave)
    women = cell(wave, "css_belonging", "community:women")
    assert women.n == 3 and women.flag == "F"
    # The same number as the engine gives on the domain.
    w = np.array([p[1] for p in PEOPLE])
    y = np.array([1.0 if p[0] in STRONG else 0.0 for p in PEOPLE])
    is_woman = np.array([p[2] == "woman" for p in PEOPLE])
    engine = survey.mean(survey.LinearizedDesign(w), y, is_woman)
    assert women.estimate == pytest.approx(engine.estimate, rel=1e-12)
    assert women.se == pytest.approx(engine.se, rel=1e-12)


def test_missing_and_refused_answers_are_left_out(wave):
    add_people(wave)
    add_response(wave, {"css_belonging": "prefer_not", "contribution": "strongly_agree"}, weight=50.0)
    add_response(wave, {"contribution": "somewhat_disagree"}, weight=50.0)
    add_response(wave, {"contribution": "prefer_not"}, weight=50.0)
    estimation.compute_estimates(wave)
    belonging = cell(wave, "css_belonging")
    assert belonging.n == 12 and belonging.weighted_n == pytest.approx(18.0)
    assert belonging.estimate == pytest.approx(10.5 / 18.0, rel=1e-12)  # the heavy refusals changed nothing
    score = cell(wave, "contribution_score")
    assert score.n == 2 and score.estimate == pytest.approx((5 + 2) / 2)
    share = cell(wave, "contribution")
    assert share.n == 2 and share.estimate == pytest.approx(0.5)


# --- raking -----------------------------------------------------------------------------------------


def _raking_wave(wave: Wave, *, missing_gender: int = 0) -> None:
    rng = np.random.default_rng(7)
    for i in range(40):
        answers = {
            "css_belonging": ["very_strong", "somewhat_weak"][i % 2],
            "province": "ON" if i % 3 else "QC",
            "gender": "woman" if i % 4 == 0 else "man",
        }
        if i < missing_gender:
            answers["gender"] = "prefer_not" if i % 2 else ""
            if not answers["gender"]:
                del answers["gender"]
        add_response(wave, answers, weight=float(rng.uniform(0.5, 3.0)))


def _margins(wave: Wave, rows) -> None:
    Margin.objects.bulk_create([Margin(wave=wave, variable=v, category=c, population=p) for v, c, p in rows])


def _totals(weights: np.ndarray, codes: np.ndarray) -> dict[str, float]:
    return {str(c): float(weights[codes == c].sum()) for c in np.unique(codes)}


def test_raking_reproduces_the_margins_and_its_report_is_stored(wave):
    _raking_wave(wave)
    _margins(
        wave,
        [("province", "ON", 600.0), ("province", "QC", 400.0), ("gender", "woman", 510.0), ("gender", "man", 490.0)],
    )
    computation = estimation.compute_estimates(wave)
    rake = computation["rake"]
    assert rake["converged"] is True and rake["iterations"] >= 2 and rake["max_relative_error"] < 1e-8
    assert rake["variables"] == ["province", "gender"]
    prepared = estimation.prepare(wave)
    weights = prepared.design.weights
    assert _totals(weights, prepared.arrays.raking["province"]) == pytest.approx({"ON": 600.0, "QC": 400.0}, rel=1e-9)
    assert _totals(weights, prepared.arrays.raking["gender"]) == pytest.approx({"woman": 510.0, "man": 490.0}, rel=1e-9)
    assert cell(wave, "css_belonging").weighted_n == pytest.approx(1000.0, rel=1e-9)
    # The estimate uses the raked weights: as the engine gives on the raked design.
    y = np.array([1.0, 0.0] * 20)
    assert cell(wave, "css_belonging").estimate == pytest.approx(survey.mean(prepared.design, y).estimate, rel=1e-12)
    assert cell(wave, "css_belonging").se == pytest.approx(survey.mean(prepared.design, y).se, rel=1e-12)


def test_respondents_without_an_answer_keep_their_share_and_unchosen_categories_are_spread(wave):
    _raking_wave(wave, missing_gender=6)
    _margins(
        wave,
        [
            ("province", "ON", 600.0),
            ("province", "QC", 390.0),
            ("province", "NU", 10.0),
            ("gender", "woman", 500.0),
            ("gender", "man", 500.0),
        ],
    )
    arrays = estimation.wave_arrays(wave)
    missing = arrays.raking["gender"] == ""
    share = arrays.weights[missing].sum() / arrays.weights.sum()
    computation = estimation.compute_estimates(wave)
    assert computation["rake"]["converged"]
    assert computation["rake"]["missing"] == {"province": 0, "gender": 6}
    assert computation["rake"]["spread"] == {"province": ["NU"], "gender": []}
    prepared = estimation.prepare(wave)
    weights = prepared.design.weights
    # Nobody in Nunavut: its 10 are spread over Ontario and Quebec in proportion (600:390 of 1,000).
    assert _totals(weights, prepared.arrays.raking["province"]) == pytest.approx(
        {"ON": 600 * 1000 / 990, "QC": 390 * 1000 / 990}, rel=1e-9
    )
    genders = _totals(weights, prepared.arrays.raking["gender"])
    assert genders[""] == pytest.approx(1000 * share, rel=1e-9)
    assert genders["woman"] == pytest.approx(500 * (1 - share), rel=1e-9)
    assert genders["man"] == pytest.approx(500 * (1 - share), rel=1e-9)


def test_margins_lacking_a_chosen_category_stop_the_computation_and_say_so(wave):
    _raking_wave(wave)
    estimation.compute_estimates(wave)
    before = Estimate.objects.filter(wave=wave).count()
    _margins(wave, [("province", "ON", 600.0)])
    with pytest.raises(estimation.ComputationError) as failed:
        estimation.compute_estimates(wave)
    assert failed.value.code == "margins_incomplete"
    wave.refresh_from_db()
    assert wave.computation["failed"]["params"] == {"missing": {"province": ["QC"]}}
    assert "province: QC" in estimation.error_message(wave.computation["failed"])
    assert Estimate.objects.filter(wave=wave).count() == before  # the earlier estimates are kept
    assert estimation.is_stale(wave)
    check = estimation.margins_check(wave)
    province = next(v for v in check["variables"] if v["variable"] == "province")
    assert province["lacking"] == ["QC"] and not check["complete"]


def test_raking_that_does_not_converge_is_reported_and_cannot_be_published(wave):
    _raking_wave(wave)
    _margins(
        wave,
        [("province", "ON", 600.0), ("province", "QC", 400.0), ("gender", "woman", 1000.0), ("gender", "man", 1000.0)],
    )
    assert estimation.margins_check(wave)["totals_differ"]
    computation = estimation.compute_estimates(wave)
    assert computation["rake"]["converged"] is False
    assert 1 <= computation["rake"]["iterations"] <= estimation.RAKE_MAX_ITERATIONS
    assert computation["rake"]["max_relative_error"] > 0.1
    wave.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        estimation.publish(wave)
    assert "did not converge" in refused.value.messages[0]
    wave.refresh_from_db()
    assert not wave.is_published


# --- imported replicate weights ---------------------------------------------------------------------


def _file_arrays():
    with CCHS.open(newline="") as f:
        rows = list(csv.DictReader(f))
    w = np.array([float(r["WTS_M"]) for r in rows])
    reps = np.array([[float(r[f"BSW{i}"]) for i in range(1, 21)] for r in rows])
    y = np.array([{"1": 1.0, "2": 1.0, "3": 0.0, "4": 0.0}.get(r["PSC_Q1"], np.nan) for r in rows])
    return w, reps, y


@pytest.mark.parametrize("centre", ["full_sample", "replicate_mean"])
def test_imported_replicate_weights_give_a_bootstrap_design_centred_as_the_wave_says(make_wave, centre):
    wave = make_wave(slug=f"pumf-{centre.replace('_', '-')}", replicate_centre=centre)
    imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")
    computation = estimation.compute_estimates(wave)
    assert (computation["design"], computation["replicates"], computation["centre"]) == ("replicate", 20, centre)
    assert computation["imported"] == 40

    w, reps, y = _file_arrays()
    valid = ~np.isnan(y)
    theta = (w * np.where(valid, y, 0)).sum() / w[valid].sum()
    theta_b = (reps * np.where(valid, y, 0)[:, None]).sum(axis=0) / reps[valid].sum(axis=0)
    centre_value = theta if centre == "full_sample" else theta_b.mean()
    se = math.sqrt(((theta_b - centre_value) ** 2).sum() / (20 - 1))
    found = cell(wave, "css_belonging")
    assert found.n == int(valid.sum())
    assert found.estimate == pytest.approx(theta, rel=1e-12)
    assert found.se == pytest.approx(se, rel=1e-10)
    engine = survey.mean(survey.ReplicateDesign(w, reps, centre=centre), y)
    assert found.se == pytest.approx(engine.se, rel=1e-12)


def test_the_two_centrings_differ_and_changing_it_makes_the_estimates_stale(make_wave):
    wave = make_wave(slug="pumf", replicate_centre="replicate_mean")
    imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")
    estimation.compute_estimates(wave)
    first = cell(wave, "css_belonging").se
    wave.replicate_centre = Wave.Centre.FULL_SAMPLE
    wave.save()
    assert estimation.is_stale(wave)
    estimation.compute_estimates(wave)
    assert cell(wave, "css_belonging").se > first  # the mean squared error is never smaller


def test_collected_responses_never_mix_with_replicate_weights(wave):
    imports.import_csv(wave, CCHS.read_bytes(), MAPPING, "WTS_M", "BSW")
    add_response(wave, {"css_belonging": "very_strong"})  # e.g. the wave was also left open
    with pytest.raises(estimation.ComputationError) as failed:
        estimation.compute_estimates(wave)
    assert failed.value.code == "mixed_design"
    assert "40 respondents have bootstrap replicate weights and 1 do not" in estimation.error_message(
        failed.value.as_json()
    )


def test_a_single_response_is_not_enough(wave):
    add_response(wave, {"css_belonging": "very_strong"})
    with pytest.raises(estimation.ComputationError) as failed:
        estimation.compute_estimates(wave)
    assert failed.value.code == "too_few"


# --- staleness and publishing -----------------------------------------------------------------------


def test_staleness_follows_responses_and_margins(wave):
    add_people(wave)
    assert estimation.is_stale(wave)  # never computed
    estimation.compute_estimates(wave)
    assert not estimation.is_stale(wave)
    add_response(wave, {"css_belonging": "very_weak"}, submitted=False)
    assert not estimation.is_stale(wave)  # in progress: not counted
    add_response(wave, {"css_belonging": "very_weak"})
    assert estimation.is_stale(wave)
    estimation.compute_estimates(wave)
    assert not estimation.is_stale(wave)
    _margins(wave, [("gender", "woman", 50.0), ("gender", "man", 50.0)])
    assert estimation.is_stale(wave)
    estimation.compute_estimates(wave)
    Margin.objects.filter(wave=wave, category="man").update(population=51.0)
    assert estimation.is_stale(wave)


def test_publishing_computes_first_then_publishes_and_can_be_withdrawn(wave, run_tasks):
    add_people(wave)
    assert estimation.publish(wave) == "queued"
    wave.refresh_from_db()
    assert not wave.is_published and estimation.pending(wave)["publish"] is True
    run_tasks()
    wave.refresh_from_db()
    assert wave.is_published and wave.computed_at is not None
    assert estimation.pending(wave) is None
    assert cell(wave, "css_belonging").n == 12
    estimation.unpublish(wave)
    wave.refresh_from_db()
    assert not wave.is_published
    assert estimation.publish(wave) == "published"  # up to date: at once
    wave.refresh_from_db()
    assert wave.is_published


def test_a_failed_computation_does_not_publish(wave, run_tasks):
    add_people(wave, province="ON")
    _margins(wave, [("province", "QC", 10.0)])
    assert estimation.publish(wave) == "queued"
    run_tasks()
    wave.refresh_from_db()
    assert not wave.is_published
    assert wave.computation["failed"]["code"] == "margins_incomplete"
    assert estimation.pending(wave) is None


# --- the pages --------------------------------------------------------------------------------------


def test_the_compute_page_queues_the_computation_and_shows_it(wave, organizer_client, run_tasks):
    add_people(wave)
    _margins(wave, [("gender", "woman", 50.0), ("gender", "man", 50.0)])
    path = f"/en/survey/manage/waves/{wave.pk}/compute/"
    page = organizer_client.get(path)
    assert page.status_code == 200 and "have not been computed yet" in page.content.decode()
    response = organizer_client.post(path, follow=True)
    assert "A computation is under way." in response.content.decode()
    run_tasks()
    page = organizer_client.get(path).content.decode()
    assert "A computation is under way." not in page
    assert "Converged in" in page and "Taylor linearization" in page
    shown = cell(wave, "css_belonging")  # raked to the gender margins
    assert f"{100 * shown.estimate:.1f}%" in page
    assert f"{100 * shown.ci_low:.1f}–{100 * shown.ci_high:.1f}%" in page


def test_the_publish_buttons(wave, organizer_client, run_tasks):
    add_people(wave)
    path = f"/en/survey/manage/waves/{wave.pk}/publish/"
    assert organizer_client.get(path)["Location"].endswith(f"/waves/{wave.pk}/compute/#publish-title")
    organizer_client.post(path, {"action": "publish"})
    run_tasks()
    wave.refresh_from_db()
    assert wave.is_published
    organizer_client.post(path, {"action": "unpublish"})
    wave.refresh_from_db()
    assert not wave.is_published
    response = organizer_client.post(path, {"action": "publish"}, follow=True)
    assert "The results of this wave are public." in response.content.decode()
    wave.refresh_from_db()
    assert wave.is_published


def test_domain_masks_agree_with_domain_contains():
    from belonging.core import identity
    from belonging.core.provinces import Province
    from belonging.measure.domains import DOMAINS

    rng = np.random.default_rng(3)
    codes = list(identity.Community.values)
    provinces = np.array([rng.choice([*Province.values, ""]) for _ in range(300)], dtype=object)
    communities = [set(rng.choice(codes, size=int(rng.integers(0, 5)), replace=False)) for _ in range(300)]
    masks = estimation.domain_masks(provinces, communities)
    expected = np.array([[d.contains(p, c) for d in DOMAINS] for p, c in zip(provinces, communities, strict=True)])
    assert (masks == expected).all()
    assert masks.any(axis=0).sum() > len(DOMAINS) // 2  # the check covers most domains
