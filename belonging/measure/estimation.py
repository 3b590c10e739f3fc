"""A wave's estimates: its responses as arrays, its design, raking to population margins, and the
``Estimate`` rows every indicator × domain gets; publishing them.

The statistics are ``belonging.lib.survey`` (NumPy, no Django); this module only reads the database,
calls it and writes the results.

Design. A wave whose respondents all carry bootstrap replicate weights (imported from public
microdata) is a ``ReplicateDesign``, centred as the wave says (``wave.replicate_centre``); any other
wave is a ``LinearizedDesign`` with its final weights (1 for answers collected here) and no strata.
Respondents with and without replicate weights are never mixed (the import refuses it; this module
refuses it too, should it happen).

Raking. When the wave has population margins, the weights are raked to them (iterative proportional
fitting, variables in the order province, age band, gender, as ``instrument.RAKING_VARIABLES``; the
replicate weights too). The rules, shown to organizers on the margins page:

- Every category respondents chose must have a margin, or raking refuses to run (it says which ones).
- Respondents who did not answer a raking variable, or preferred not to, form a category of their own
  whose population target is their weighted share of the sample: they keep their relative weight, and
  the answered categories are raked to the population's distribution over the rest.
- A category of the margins that no respondent chose cannot be represented: its population is spread
  over the variable's other categories in proportion to their populations (the page lists them).

The ``RakeReport`` (converged, iterations, largest relative error) is stored in ``wave.computation``
and shown; a failure to converge is reported, and such results cannot be published.

Staleness. ``wave.computation["fingerprint"]`` records what the estimates were computed from (number
and last id of submitted responses, the margins, the centring); when any of it changes the estimates
are stale, and publishing computes them again first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from belonging.core import identity
from belonging.measure import instrument
from belonging.measure.domains import DOMAINS, Domain
from belonging.measure.models import Estimate, Margin, Response, Wave

if TYPE_CHECKING:
    from belonging.lib import survey


def _engine():
    """``belonging.lib.survey``, imported when first needed (it loads SciPy)."""
    from belonging.lib import survey

    return survey


ALL_INDICATORS: tuple[instrument.Indicator, ...] = instrument.INDICATORS + instrument.MEAN_INDICATORS
logger = logging.getLogger(__name__)
MISSING = "(missing)"  # the raking category of respondents who did not answer the variable
RAKE_MAX_ITERATIONS = 200
RAKE_TOLERANCE = 1e-10


class ComputationError(Exception):
    """Estimates cannot be computed; ``code`` and ``params`` are stored, and ``message`` says why in the
    organizer's language (see ``error_message``)."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(code)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


def error_message(error: dict[str, Any]) -> str:
    """A stored computation error, in the active language."""
    code, params = error.get("code", ""), error.get("params", {})
    if code == "mixed_design":
        return (
            _(
                "%(with)s respondents have bootstrap replicate weights and %(without)s do not: the two designs cannot be "
                "combined. Keep imported microdata with replicate weights in a wave of its own."
            )
            % params
        )
    if code == "replicate_lengths":
        return _("Respondents have different numbers of replicate weights (%(counts)s).") % {
            "counts": ", ".join(map(str, params.get("counts", [])))
        }
    if code == "margins_incomplete":
        missing = "; ".join(f"{variable}: {', '.join(cats)}" for variable, cats in params.get("missing", {}).items())
        return _(
            "The population margins lack categories that respondents chose (%(missing)s). Add them to the "
            "margins, or remove the margins, then compute again."
        ) % {"missing": missing}
    if code == "margins_no_answers":
        return _("No respondent answered %(variable)s, so the weights cannot be raked to its margins.") % params
    if code == "too_few":
        return _("At least 2 submitted responses are needed to compute estimates; this wave has %(n)s.") % params
    if code == "engine":
        return _("The computation failed: %(detail)s") % params
    return _("The computation failed.")


# --- the wave as arrays -----------------------------------------------------------------------------


@dataclass
class WaveArrays:
    """Submitted responses of a wave, in id order. Values: NaN where the answer is missing, refused or
    not an answer to that indicator."""

    weights: np.ndarray  # (n,)
    replicates: np.ndarray | None  # (n, B) combined replicate weights, or None
    values: np.ndarray  # (n, k), columns as ``indicators``
    indicators: tuple[instrument.Indicator, ...]
    domains: np.ndarray  # (n, d) bool, columns as ``domain_codes``
    domain_codes: list[str]
    raking: dict[str, np.ndarray] = field(default_factory=dict)  # variable → each respondent's code ("" = none)

    @property
    def n(self) -> int:
        return int(self.weights.shape[0])


def _submitted(wave: Wave):
    return Response.objects.filter(wave=wave, status=Response.Status.SUBMITTED)


def domain_masks(provinces: np.ndarray, communities: list[set[str]], domains: list[Domain] = DOMAINS) -> np.ndarray:
    """(n, d) membership, as ``Domain.contains`` decides, computed a column at a time."""
    n = len(provinces)
    members = {
        code: np.fromiter((code in c for c in communities), dtype=bool, count=n) for code in identity.Community.values
    }
    masks = np.zeros((n, len(domains)), dtype=bool)
    for j, domain in enumerate(domains):
        if domain.kind == "all":
            masks[:, j] = True
        elif domain.kind == "province":
            masks[:, j] = provinces == domain.province
        else:
            column = np.ones(n, dtype=bool)
            for code in domain.communities:
                column &= members.get(code, np.zeros(n, dtype=bool))
            masks[:, j] = column
    return masks


def wave_arrays(wave: Wave) -> WaveArrays:
    """The wave's submitted responses as arrays (raises ``ComputationError`` for a mixed design)."""
    responses = _submitted(wave)
    n = responses.count()
    with_replicates = responses.filter(replicate_weights__isnull=False).count()
    if with_replicates and with_replicates != n:
        raise ComputationError("mixed_design", **{"with": with_replicates, "without": n - with_replicates})
    indicators = ALL_INDICATORS
    weights = np.empty(n)
    values = np.full((n, len(indicators)), np.nan)
    provinces = np.empty(n, dtype=object)
    communities: list[set[str]] = []
    raking = {variable: np.empty(n, dtype=object) for variable in instrument.RAKING_VARIABLES}
    replicates: np.ndarray | None = None
    rows = responses.order_by("pk").values_list("answers", "province", "communities", "weight", "replicate_weights")
    for i, (answers, province, codes, weight, blob) in enumerate(rows.iterator(chunk_size=2000)):
        answers = answers or {}
        weights[i] = weight
        for j, indicator in enumerate(indicators):
            value = indicator.value(answers.get(indicator.item))
            if value is not None:
                values[i, j] = value
        provinces[i] = province or ""
        communities.append(identity.decode_communities(codes or ""))
        for variable, column in raking.items():
            answer = answers.get(variable)
            column[i] = answer if isinstance(answer, str) and answer != instrument.PREFER_NOT else ""
        if blob is not None:
            row = np.frombuffer(blob, dtype="<f8")
            if replicates is None:
                replicates = np.empty((n, row.shape[0]))
            if row.shape[0] != replicates.shape[1]:
                raise ComputationError("replicate_lengths", counts=sorted({row.shape[0], replicates.shape[1]}))
            replicates[i] = row
    return WaveArrays(
        weights=weights,
        replicates=replicates,
        values=values,
        indicators=indicators,
        domains=domain_masks(provinces, communities),
        domain_codes=[d.code for d in DOMAINS],
        raking=raking,
    )


def design_for(wave: Wave, arrays: WaveArrays) -> survey.Design:
    """Bootstrap replicate weights → ``ReplicateDesign`` with the wave's centring; else linearized."""
    survey = _engine()
    if arrays.replicates is not None:
        return survey.ReplicateDesign(
            weights=arrays.weights, replicates=arrays.replicates, centre=wave.replicate_centre
        )
    return survey.LinearizedDesign(weights=arrays.weights, strata=None)


# --- raking -----------------------------------------------------------------------------------------


@dataclass
class RakingPlan:
    """The margins as the engine takes them, and what had to be adapted (see the module's rules)."""

    margins: list[survey.Margin]
    variables: list[str]
    missing: dict[str, int]  # variable → respondents who did not answer it
    spread: dict[str, list[str]]  # variable → margin categories no respondent chose


def margin_table(wave: Wave) -> dict[str, dict[str, float]]:
    """The wave's margins: variable → category → population, variables in raking order."""
    found: dict[str, dict[str, float]] = {}
    rows = Margin.objects.filter(wave=wave).values_list("variable", "category", "population")
    for variable, category, population in rows:
        found.setdefault(variable, {})[category] = population
    return {v: found[v] for v in instrument.RAKING_VARIABLES if v in found}


def raking_plan(
    wave: Wave, arrays: WaveArrays, margins: dict[str, dict[str, float]] | None = None
) -> RakingPlan | None:
    """The engine's margins for the wave (None when it has none); ``ComputationError`` when they lack a
    category respondents chose, or nobody answered a raked variable."""
    margins = margin_table(wave) if margins is None else margins
    if not margins:
        return None
    survey = _engine()
    result = RakingPlan([], [], {}, {})
    lacking: dict[str, list[str]] = {}
    total_weight = float(arrays.weights.sum())
    for variable, populations in margins.items():
        codes = arrays.raking[variable]
        answered = codes != ""
        present = set(codes[answered].tolist())
        absent = present - set(populations)
        if absent:
            lacking[variable] = sorted(absent)
            continue
        if not answered.any():
            raise ComputationError("margins_no_answers", variable=variable)
        population = sum(populations.values())
        kept = {c: p for c, p in populations.items() if c in present}
        share_missing = float(arrays.weights[~answered].sum()) / total_weight if total_weight else 0.0
        scale = population / sum(kept.values()) * (1.0 - share_missing)
        totals: dict[str, float] = {c: p * scale for c, p in kept.items()}
        if share_missing:
            totals[MISSING] = population * share_missing
        result.margins.append(survey.Margin(codes=np.where(answered, codes, MISSING), totals=totals))
        result.variables.append(variable)
        result.missing[variable] = int((~answered).sum())
        result.spread[variable] = sorted(set(populations) - present)
    if lacking:
        raise ComputationError("margins_incomplete", missing=lacking)
    return result


def margins_check(wave: Wave) -> dict[str, Any]:
    """What the margins page shows: respondents per category, categories lacking a margin, margin
    categories nobody chose, respondents without an answer, and each variable's total."""
    margins = margin_table(wave)
    counts: dict[str, dict[str, int]] = {v: {} for v in instrument.RAKING_VARIABLES}
    missing = {v: 0 for v in instrument.RAKING_VARIABLES}
    for answers in _submitted(wave).values_list("answers", flat=True).iterator(chunk_size=2000):
        for variable in instrument.RAKING_VARIABLES:
            answer = (answers or {}).get(variable)
            if isinstance(answer, str) and answer and answer != instrument.PREFER_NOT:
                counts[variable][answer] = counts[variable].get(answer, 0) + 1
            else:
                missing[variable] += 1
    variables = []
    for variable, item in instrument.RAKING_VARIABLES.items():
        populations = margins.get(variable, {})
        categories = [
            {
                "code": code,
                "label": label,
                "population": populations.get(code),
                "respondents": counts[variable].get(code, 0),
            }
            for code, label in item.choices
            if code != instrument.PREFER_NOT
        ]
        variables.append(
            {
                "variable": variable,
                "label": item.text,
                "has_margins": bool(populations),
                "categories": categories,
                "lacking": [
                    c["code"] for c in categories if populations and c["population"] is None and c["respondents"]
                ],
                "unrepresented": [
                    c["code"] for c in categories if c["population"] is not None and not c["respondents"]
                ],
                "missing": missing[variable],
                "total": sum(populations.values()),
            }
        )
    totals = {v["total"] for v in variables if v["has_margins"]}
    return {
        "variables": variables,
        "complete": not any(v["lacking"] for v in variables),
        "totals_differ": bool(totals) and (max(totals) - min(totals)) > 1e-6 * max(totals),
        "has_margins": bool(margins),
    }


# --- computing --------------------------------------------------------------------------------------


def fingerprint(wave: Wave) -> dict[str, Any]:
    """What the estimates depend on, cheaply: responses (count, last id), margins (a digest), centring."""
    stats = _submitted(wave).aggregate(count=Count("pk"), last=Max("pk"))
    margins = sorted(Margin.objects.filter(wave=wave).values_list("variable", "category", "population"))
    return {
        "responses": stats["count"],
        "last_response": stats["last"],
        "margins": hashlib.sha256(json.dumps(margins).encode()).hexdigest()[:16],
        "centre": wave.replicate_centre,
        "questionnaire": wave.questionnaire,
    }


def is_stale(wave: Wave) -> bool:
    """Never computed, or responses, margins or centring changed since."""
    return wave.computed_at is None or (wave.computation or {}).get("fingerprint") != fingerprint(wave)


@dataclass
class Prepared:
    arrays: WaveArrays
    design: survey.Design
    rake: survey.RakeReport | None
    plan: RakingPlan | None


def prepare(wave: Wave) -> Prepared:
    """Arrays, design and (when the wave has margins) the raked design."""
    arrays = wave_arrays(wave)
    if arrays.n < 2:
        raise ComputationError("too_few", n=arrays.n)
    try:
        design = design_for(wave, arrays)
    except ValueError as exc:
        raise ComputationError("engine", detail=str(exc)) from None
    report = None
    plan = raking_plan(wave, arrays)
    if plan is not None:
        try:
            design, report = _engine().rake(
                design, plan.margins, max_iterations=RAKE_MAX_ITERATIONS, tolerance=RAKE_TOLERANCE
            )
        except ValueError as exc:
            raise ComputationError("engine", detail=str(exc)) from None
    return Prepared(arrays, design, report, plan)


def _finite(value: float, default: float) -> float:
    return value if value is not None and math.isfinite(value) else default


def _rows(wave: Wave, prepared: Prepared) -> list[Estimate]:
    arrays = prepared.arrays
    try:
        table = _engine().estimate_table(prepared.design, arrays.values, arrays.domains)
    except ValueError as exc:
        raise ComputationError("engine", detail=str(exc)) from None
    rows = []
    for indicator, column in zip(arrays.indicators, table, strict=True):
        for code, found in zip(arrays.domain_codes, column, strict=True):
            if found.n == 0 or not math.isfinite(found.estimate):
                continue
            exact = all(math.isfinite(x) for x in (found.se, found.ci_low, found.ci_high))
            rows.append(
                Estimate(
                    wave=wave,
                    indicator=indicator.id,
                    domain=code,
                    estimate=found.estimate,
                    se=_finite(found.se, 0.0),
                    ci_low=_finite(found.ci_low, found.estimate),
                    ci_high=_finite(found.ci_high, found.estimate),
                    cv=found.cv if found.cv is not None and math.isfinite(found.cv) else None,
                    n=found.n,
                    weighted_n=found.weighted_n,
                    # An estimate without a usable standard error is never released.
                    flag=found.flag if exact else Estimate.Flag.SUPPRESSED,
                )
            )
    return rows


def compute_estimates(wave: Wave, *, on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Compute every indicator × domain of the wave and replace its ``Estimate`` rows (one transaction;
    cells without respondents are left out). Records ``wave.computed_at`` and ``wave.computation``; on
    failure keeps the previous estimates, records the error and raises ``ComputationError``."""
    started = time.monotonic()
    stamp = fingerprint(wave)
    progress = on_progress or (lambda fraction, stage: None)
    try:
        progress(0.1, "reading")
        prepared = prepare(wave)
        progress(0.5, "estimating")
        rows = _rows(wave, prepared)
    except ComputationError as exc:
        failed = {**_without_state(wave.computation), "failed": {**exc.as_json(), "at": timezone.now().isoformat()}}
        Wave.objects.filter(pk=wave.pk).update(computation=failed)
        wave.computation = failed
        raise
    progress(0.9, "saving")
    arrays = prepared.arrays
    report = prepared.rake
    computation: dict[str, Any] = {
        "n": arrays.n,
        "imported": _submitted(wave).filter(source=Response.Source.IMPORTED).count(),
        "design": "replicate" if arrays.replicates is not None else "linearized",
        "replicates": int(arrays.replicates.shape[1]) if arrays.replicates is not None else 0,
        "centre": wave.replicate_centre if arrays.replicates is not None else "",
        "rake": None,
        "estimates": len(rows),
        "fingerprint": stamp,
    }
    if report is not None and prepared.plan is not None:
        computation["rake"] = {
            "converged": bool(report.converged),
            "iterations": int(report.iterations),
            "max_relative_error": float(report.max_relative_error),
            "variables": prepared.plan.variables,
            "missing": prepared.plan.missing,
            "spread": prepared.plan.spread,
        }
    with transaction.atomic():
        Estimate.objects.filter(wave=wave).delete()
        Estimate.objects.bulk_create(rows, batch_size=500)
        computation["duration_s"] = round(time.monotonic() - started, 3)
        wave.computed_at = timezone.now()
        wave.computation = computation
        Wave.objects.filter(pk=wave.pk).update(computed_at=wave.computed_at, computation=computation)
    progress(1.0, "done")
    return computation


def _without_state(computation: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (computation or {}).items() if k not in ("failed", "pending")}


# --- queueing, publishing ---------------------------------------------------------------------------


def request_computation(wave: Wave, *, publish: bool = False) -> None:
    """Queue the computation (and publication when ``publish``); the page shows it as pending."""
    from belonging.measure import tasks

    with transaction.atomic():
        wave = Wave.objects.select_for_update().get(pk=wave.pk)
        pending = {"since": timezone.now().isoformat(), "publish": publish}
        computation = {**(wave.computation or {}), "pending": pending}
        Wave.objects.filter(pk=wave.pk).update(computation=computation)
        # In the same transaction: the task exists exactly when the pending mark does.
        tasks.compute_wave.enqueue(wave.pk, publish)


def run_computation(wave_id: int, publish: bool = False) -> str:
    """What the task does: compute, then publish if asked and the results may be published. Returns
    "done", "published", "failed" or "missing"."""
    wave = Wave.objects.filter(pk=wave_id).first()
    if wave is None:
        return "missing"
    try:
        computation = compute_estimates(wave)
    except ComputationError:
        return "failed"
    except Exception as exc:  # a bug or a database error: say so on the page, and in the log
        logger.exception("computing the estimates of wave %s failed", wave_id)
        error = ComputationError("engine", detail=f"{type(exc).__name__}: {exc}")
        failed = {**_without_state(wave.computation), "failed": {**error.as_json(), "at": timezone.now().isoformat()}}
        Wave.objects.filter(pk=wave.pk).update(computation=failed)
        return "failed"
    if publish and publish_refusal(computation) is None:
        Wave.objects.filter(pk=wave.pk).update(is_published=True)
        return "published"
    return "done"


def publish_refusal(computation: dict[str, Any]) -> str | None:
    """Why computed results may not be published (None: they may)."""
    if computation.get("failed"):
        return error_message(computation["failed"])
    if not computation.get("estimates"):
        return _("There are no estimates to publish: the wave has no submitted responses.")
    rake = computation.get("rake")
    if rake and not rake.get("converged"):
        return _(
            "Raking to the population margins did not converge (largest relative error %(error).2g after "
            "%(iterations)s iterations). Check that the margins describe the same population, then compute again."
        ) % {"error": rake.get("max_relative_error", float("nan")), "iterations": rake.get("iterations", 0)}
    return None


def publish(wave: Wave) -> str:
    """Publish the wave's results: at once when they are up to date ("published"), else after computing
    them again ("queued"). ``ValidationError`` when up-to-date results may not be published."""
    if is_stale(wave) or (wave.computation or {}).get("failed"):
        request_computation(wave, publish=True)
        return "queued"
    refusal = publish_refusal(wave.computation or {})
    if refusal:
        raise ValidationError(refusal)
    Wave.objects.filter(pk=wave.pk).update(is_published=True)
    wave.is_published = True
    return "published"


def unpublish(wave: Wave) -> None:
    Wave.objects.filter(pk=wave.pk).update(is_published=False)
    wave.is_published = False


def pending(wave: Wave) -> dict[str, Any] | None:
    return (wave.computation or {}).get("pending")


def summary(wave: Wave) -> list[Estimate]:
    """The "everyone" estimates, one per indicator in order, for the compute page."""
    found = {e.indicator: e for e in Estimate.objects.filter(wave=wave, domain="all")}
    return [found[i.id] for i in ALL_INDICATORS if i.id in found]
