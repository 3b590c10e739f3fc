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
  One exception, for gender only: the census publishes gender as Men+ and Women+, so respondents
  whose gender is one that has no margin and that the census counts within those two (non-binary
  person, another gender: ``GENDER_WITHOUT_MARGIN``) are treated as not having answered gender, as
  below; they are counted and shown. Every other variable (and woman, man) still needs a margin for
  every category respondents chose.
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

Release flags. Shares take Statistics Canada's rule as the engine gives it (fewer than 10
respondents or a CV above 33.3%: F; 16.6% to 33.3%: E). A mean score's CV depends on where its scale
starts, so a mean score (1 to 5) is judged, and its ``cv`` stored, on the score rescaled to 0–1,
``(score − 1) / 4``: CV = 100 · se / |estimate − 1|, with the same thresholds; and a mean score is
never released (F) when the share of the same question in the same domain is F.

Publishing and computing again. The results of a published wave are public as soon as they are
written, so when a published wave is computed again and the new results could not be published
(``publish_refusal``: raking did not converge, no estimates), they are not written: the public rows
stay those of the previous computation, and the refusal is recorded under
``wave.computation["withheld"]`` and shown on the compute page (withdrawing the results, then
computing again, shows the new estimates to organizers).

Concurrency. Computations of one wave may run at once (two workers, a "compute" and a "publish"
task). Each reads without a lock, then writes under ``select_for_update`` on the wave row: a
computation whose data are no longer current is discarded when the stored results are current, or
were read later than it; a failure is never recorded over stored results that are current.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Max
from django.db.models.fields.json import KT
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
# Gender categories the census counts within Men+ and Women+: without a margin of their own, their
# respondents are treated as not having answered gender for raking (only gender; see the module).
GENDER_WITHOUT_MARGIN = frozenset({identity.Gender.NON_BINARY.value, identity.Gender.ANOTHER.value})
WITHOUT_MARGIN = {"gender": GENDER_WITHOUT_MARGIN}


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
    if code == "few_replicates":
        return _(
            "The imported responses have %(count)s bootstrap replicate weight column; a bootstrap variance needs at "
            "least 2. Import the file again with all its replicate weight columns, into a new wave."
        ) % {"count": params.get("count", 0)}
    if code == "engine":
        # The engine's own words are English and technical: they go to the log, not to the page.
        return _(
            "The statistics engine could not compute the estimates from these data. The details are in the "
            "server’s log: tell the site’s administrators."
        )
    if code == "unexpected":
        return _(
            "The computation stopped because of an unexpected error; the previous estimates are kept. The details "
            "are in the server’s log. Compute again, and tell the site’s administrators if it happens again."
        )
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
    missing: dict[str, int]  # variable → respondents raked as not having answered it (without_margin included)
    spread: dict[str, list[str]]  # variable → margin categories no respondent chose
    # variable → category → respondents whose category has no margin and who are raked as not having
    # answered (gender only: GENDER_WITHOUT_MARGIN)
    without_margin: dict[str, dict[str, int]] = field(default_factory=dict)


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
    category respondents chose (other than gender's ``GENDER_WITHOUT_MARGIN``, raked as not answered),
    or nobody answered a raked variable."""
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
        treated_missing = sorted((present - set(populations)) & WITHOUT_MARGIN.get(variable, frozenset()))
        if treated_missing:
            unmatched = np.isin(codes, treated_missing)
            result.without_margin[variable] = {c: int((codes == c).sum()) for c in treated_missing}
            answered = answered & ~unmatched
            present -= set(treated_missing)
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


def _category_counts(wave: Wave) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Submitted respondents per category of each raking variable, and per variable those without an
    answer (or who preferred not to say): one grouped query, no answer read into Python."""
    variables = list(instrument.RAKING_VARIABLES)
    # The province is stored in its own column at submission (the same answer, "" when not given).
    keys = {variable: F("province") if variable == "province" else KT(f"answers__{variable}") for variable in variables}
    grouped = (
        _submitted(wave)
        .order_by()
        .values(**{f"v_{variable}": key for variable, key in keys.items()})
        .annotate(count=Count("pk"))
    )
    counts: dict[str, dict[str, int]] = {v: {} for v in variables}
    missing = {v: 0 for v in variables}
    for row in grouped:
        for variable in variables:
            answer = row[f"v_{variable}"]
            item = instrument.RAKING_VARIABLES[variable]
            # A list or number (never written for these single-choice items) counts as no answer, as
            # in ``wave_arrays``, which only takes strings; so does a code the item does not have.
            if isinstance(answer, str) and answer in item.codes and answer != instrument.PREFER_NOT:
                counts[variable][answer] = counts[variable].get(answer, 0) + row["count"]
            else:
                missing[variable] += row["count"]
    return counts, missing


def margins_check(wave: Wave) -> dict[str, Any]:
    """What the margins page shows: respondents per category, categories lacking a margin, margin
    categories nobody chose, gender categories raked as not answered, respondents without an answer,
    and each variable's total."""
    margins = margin_table(wave)
    counts, missing = _category_counts(wave)
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
        without = WITHOUT_MARGIN.get(variable, frozenset())
        unmatched = [
            c
            for c in categories
            if populations and c["population"] is None and c["respondents"] and c["code"] in without
        ]
        variables.append(
            {
                "variable": variable,
                "label": item.text,
                "has_margins": bool(populations),
                "categories": categories,
                "lacking": [
                    c["code"]
                    for c in categories
                    if populations and c["population"] is None and c["respondents"] and c["code"] not in without
                ],
                "without_margin": [c["code"] for c in unmatched],
                "without_margin_respondents": sum(c["respondents"] for c in unmatched),
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
    if arrays.replicates is not None and arrays.replicates.shape[1] < 2:
        raise ComputationError("few_replicates", count=int(arrays.replicates.shape[1]))
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


def score_cv(estimate: float, se: float) -> float | None:
    """The CV (percent) of a 1-to-5 mean score rescaled to 0–1, ``(score − 1) / 4``: 100 · se / |estimate − 1|
    (None when the mean is exactly 1, as the engine gives for an estimate of 0)."""
    distance = abs(estimate - 1.0)
    if distance == 0:
        return None
    return 100.0 * se / distance


def _rows(wave: Wave, prepared: Prepared) -> list[Estimate]:
    survey = _engine()
    arrays = prepared.arrays
    try:
        table = survey.estimate_table(prepared.design, arrays.values, arrays.domains)
    except ValueError as exc:
        raise ComputationError("engine", detail=str(exc)) from None
    rows = []
    share_flags: dict[tuple[str, str], str] = {}  # (item, domain) → the share's flag
    # Shares first (INDICATORS come before MEAN_INDICATORS), so each mean score sees its share's flag.
    for indicator, column in zip(arrays.indicators, table, strict=True):
        for code, found in zip(arrays.domain_codes, column, strict=True):
            if found.n == 0 or not math.isfinite(found.estimate):
                continue
            exact = all(math.isfinite(x) for x in (found.se, found.ci_low, found.ci_high))
            cv = found.cv if found.cv is not None and math.isfinite(found.cv) else None
            flag = found.flag
            if not indicator.is_share and exact:
                # A mean score's CV on its 1-to-5 scale depends on where the scale starts: judge it on 0–1.
                cv = score_cv(found.estimate, found.se)
                flag = survey.release_flag(found.n, cv)
                if share_flags.get((indicator.item, code)) == Estimate.Flag.SUPPRESSED:
                    flag = Estimate.Flag.SUPPRESSED
            if not exact:
                flag = Estimate.Flag.SUPPRESSED  # an estimate without a usable standard error is never released
            if indicator.is_share:
                share_flags[(indicator.item, code)] = flag
            rows.append(
                Estimate(
                    wave=wave,
                    indicator=indicator.id,
                    domain=code,
                    estimate=found.estimate,
                    se=_finite(found.se, 0.0),
                    ci_low=_finite(found.ci_low, found.estimate),
                    ci_high=_finite(found.ci_high, found.estimate),
                    cv=cv,
                    n=found.n,
                    weighted_n=found.weighted_n,
                    flag=flag,
                )
            )
    return rows


def compute_estimates(wave: Wave, *, on_progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Compute every indicator × domain of the wave and replace its ``Estimate`` rows (one transaction,
    under a lock on the wave's row; cells without respondents are left out). Records ``wave.computed_at``
    and ``wave.computation``.

    Returns the new computation with ``"outcome"`` (not stored): "saved"; "withheld" when the wave is
    published and these results could not be published (the public rows are kept, the refusal is
    recorded, see the module); "discarded" when a newer computation has already written its results
    (nothing changed). On failure keeps the previous estimates, records the error (unless the stored
    results are current) and raises ``ComputationError``."""
    started = time.monotonic()
    read_at = timezone.now()
    stamp = fingerprint(wave)
    progress = on_progress or (lambda fraction, stage: None)
    try:
        progress(0.1, "reading")
        prepared = prepare(wave)
        progress(0.5, "estimating")
        rows = _rows(wave, prepared)
    except ComputationError as exc:
        if exc.code == "engine":
            logger.warning("the engine refused the data of wave %s: %s", wave.pk, exc.params.get("detail"))
        record_failure(wave, exc, read_at)
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
        "read_at": read_at.isoformat(),
    }
    if report is not None and prepared.plan is not None:
        computation["rake"] = {
            "converged": bool(report.converged),
            "iterations": int(report.iterations),
            "max_relative_error": float(report.max_relative_error),
            "variables": prepared.plan.variables,
            "missing": prepared.plan.missing,
            "spread": prepared.plan.spread,
            "without_margin": prepared.plan.without_margin,
        }
    with transaction.atomic():
        # One writer at a time: a second computation waits here, then sees the first one's rows.
        locked = Wave.objects.select_for_update().get(pk=wave.pk)
        stored = locked.computation or {}
        if _superseded(stamp, fingerprint(locked), stored, read_at):
            outcome = "discarded"
            if _answered(stored, read_at):  # the newer results answer the request: not "under way" forever
                locked.computation = {k: v for k, v in stored.items() if k != "pending"}
                Wave.objects.filter(pk=wave.pk).update(computation=locked.computation)
        elif locked.is_published and publish_refusal(computation) is not None:
            # Public rows are never replaced by results that publishing would refuse.
            outcome = "withheld"
            withheld = {**computation, "at": timezone.now().isoformat()}
            locked.computation = {**_without_state(stored), "withheld": withheld, **_later_request(stored, read_at)}
            Wave.objects.filter(pk=wave.pk).update(computation=locked.computation)
        else:
            outcome = "saved"
            Estimate.objects.filter(wave=wave).delete()
            Estimate.objects.bulk_create(rows, batch_size=500)
            computation["duration_s"] = round(time.monotonic() - started, 3)
            locked.computed_at = timezone.now()
            locked.computation = {**computation, **_later_request(stored, read_at)}
            Wave.objects.filter(pk=wave.pk).update(computed_at=locked.computed_at, computation=locked.computation)
    wave.computed_at, wave.computation, wave.is_published = locked.computed_at, locked.computation, locked.is_published
    if outcome == "discarded":
        logger.info("a computation of wave %s was discarded: a newer one had written its results", wave.pk)
    progress(1.0, "done")
    return {**computation, "outcome": outcome}


def _read_at(computation: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(computation["read_at"])
    except (KeyError, TypeError, ValueError):
        return None


def _superseded(stamp: dict[str, Any], current: dict[str, Any], stored: dict[str, Any], read_at: datetime) -> bool:
    """Whether a computation read at ``read_at`` from data ``stamp`` must not replace ``stored``: its data
    are no longer ``current`` and the stored results are current, or were read after it."""
    if stamp == current:
        return False
    if stored.get("fingerprint") == current:
        return True
    stored_at = _read_at(stored)
    return stored_at is not None and stored_at > read_at


def _answered(computation: dict[str, Any], read_at: datetime | None) -> bool:
    """Whether the pending request was made before a computation read at ``read_at`` began (a request made
    later has its own task still to run); with no time, any pending request."""
    pending = computation.get("pending")
    if not pending:
        return False
    try:
        since = datetime.fromisoformat(pending["since"])
    except (KeyError, TypeError, ValueError):
        return True
    return read_at is None or since <= read_at


def _later_request(computation: dict[str, Any], read_at: datetime) -> dict[str, Any]:
    """The pending mark of a request made after this computation began reading (its task is still to
    run), to keep; else nothing."""
    if computation.get("pending") and not _answered(computation, read_at):
        return {"pending": computation["pending"]}
    return {}


def record_failure(wave: Wave, error: ComputationError, read_at: datetime | None = None) -> None:
    """Record a failed computation on the wave (under its row lock), and clear its pending mark; never over
    stored results that are current (the failure then came from older data, or was transient)."""
    with transaction.atomic():
        locked = Wave.objects.select_for_update().get(pk=wave.pk)
        stored = locked.computation or {}
        if locked.computed_at is not None and stored.get("fingerprint") == fingerprint(locked):
            # The current results stand and answer the request (no "under way" notice left behind).
            if _answered(stored, read_at):
                stored = {k: v for k, v in stored.items() if k != "pending"}
                Wave.objects.filter(pk=wave.pk).update(computation=stored)
            wave.computation = stored
            return
        failed = {**_without_state(stored), "failed": {**error.as_json(), "at": timezone.now().isoformat()}}
        if read_at is not None:
            failed.update(_later_request(stored, read_at))
        Wave.objects.filter(pk=wave.pk).update(computation=failed)
        wave.computation = failed


def _without_state(computation: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (computation or {}).items() if k not in ("failed", "pending", "withheld")}


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
    "done", "published", "withheld" (a published wave whose new results may not be published: the
    public ones are kept), "failed" or "missing"."""
    wave = Wave.objects.filter(pk=wave_id).first()
    if wave is None:
        return "missing"
    try:
        computation = compute_estimates(wave)
    except ComputationError:
        return "failed"
    except Exception:  # a bug or a database error: a translated message on the page, the details in the log
        logger.exception("computing the estimates of wave %s failed", wave_id)
        try:
            record_failure(wave, ComputationError("unexpected"))
        except Exception:
            logger.exception("recording the failure of wave %s failed too", wave_id)
        return "failed"
    if computation["outcome"] == "withheld":
        return "withheld"
    if publish:
        with transaction.atomic():
            locked = Wave.objects.select_for_update().get(pk=wave.pk)
            stored = locked.computation or {}
            # The results that stand now (ours, or a newer computation's when ours was discarded).
            if locked.computed_at is not None and publish_refusal(stored) is None:
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


def withheld(wave: Wave) -> dict[str, Any] | None:
    """The last computation of a published wave that was not applied because it could not be published:
    ``{"refusal": why, "at": when}``, or None."""
    found = (wave.computation or {}).get("withheld")
    if not found or not wave.is_published:
        return None
    return {"refusal": publish_refusal(found) or "", "at": _at(found)}


def _at(computation: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(computation["at"])
    except (KeyError, TypeError, ValueError):
        return None


def publish(wave: Wave) -> str:
    """Publish the wave's results: at once when they are up to date ("published"), else after computing
    them again ("queued"). ``ValidationError`` when up-to-date results may not be published."""
    with transaction.atomic():
        # Under the row lock, so that no computation writes other results between the check and the flag.
        locked = Wave.objects.select_for_update().get(pk=wave.pk)
        if not (is_stale(locked) or (locked.computation or {}).get("failed")):
            refusal = publish_refusal(locked.computation or {})
            if refusal:
                raise ValidationError(refusal)
            Wave.objects.filter(pk=wave.pk).update(is_published=True)
            wave.is_published = True
            return "published"
    request_computation(wave, publish=True)
    return "queued"


def unpublish(wave: Wave) -> None:
    """Withdraw the wave's results (and forget a withheld computation: the next one is written)."""
    with transaction.atomic():
        locked = Wave.objects.select_for_update().get(pk=wave.pk)
        computation = {k: v for k, v in (locked.computation or {}).items() if k != "withheld"}
        Wave.objects.filter(pk=wave.pk).update(is_published=False, computation=computation)
    wave.is_published = False
    wave.computation = computation


def pending(wave: Wave) -> dict[str, Any] | None:
    return (wave.computation or {}).get("pending")


def summary(wave: Wave) -> list[Estimate]:
    """The "everyone" estimates, one per indicator in order, for the compute page."""
    found = {e.indicator: e for e in Estimate.objects.filter(wave=wave, domain="all")}
    return [found[i.id] for i in ALL_INDICATORS if i.id in found]
