"""Reads for the public indicators: the dashboard, the open-data CSV and the API.

Only waves whose results are published (``Wave.is_published``) are read, and only their stored
``Estimate`` rows (computed by ``estimation.compute_estimates``); nothing here touches a response.

Three rules hold in every output (page, CSV, API), because they all go through ``public_cells``:

- Statistics Canada's release rule: a cell flagged "F" (fewer than 10 respondents, or a coefficient
  of variation above 33.3%) never shows its estimate, standard error, interval, CV or number of
  respondents, only the reason; an "E" cell (CV 16.6–33.3%) is shown, marked "use with caution".
- Complementary suppression (DESIGN §6, "Small cells"): where a published total and published parts
  inside it that do not overlap (any such family, derived from how the domains are defined: the
  provinces, Indigenous and racialized people, women and gender-diverse people, youth and seniors, the
  Indigenous groups, intersections inside a community…) would let someone work out, by subtraction,
  the answers of a group of 1 to 9 respondents (a hidden cell, or the people outside every published
  part, or people counted in two parts), more parts are hidden, flagged "x" (Statistics Canada's
  symbol for confidentiality). See ``FAMILIES`` and ``protect``.
- Series never mix samples: waves are grouped by sample type and place, and change is only computed
  between two waves of one series (``lib.survey.change``), only when both cells are published. A
  change is called real only when it stays significant after allowing for the number of changes of
  the wave judged together (Benjamini–Hochberg, ``judge``).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from belonging.core.models import Campaign
from belonging.lib import multiplicity, survey
from belonging.measure import domains, instrument, reference
from belonging.measure.models import Estimate, Wave

SHARES = instrument.INDICATORS  # the six shares the dashboard shows
ALL_INDICATORS = instrument.INDICATORS + instrument.MEAN_INDICATORS  # the open data adds the mean scores
INDICATOR_BY_ID = {i.id: i for i in ALL_INDICATORS}
INDICATOR_ORDER = {i.id: pos for pos, i in enumerate(ALL_INDICATORS)}
DOMAIN_ORDER = {d.code: pos for pos, d in enumerate(domains.DOMAINS)}
MIN_RESPONDENTS = 10  # Statistics Canada: fewer unweighted respondents than this, never published
DECIMALS = 4  # estimates, standard errors and intervals in the open data (0.01 percentage point)

# --- suppression ------------------------------------------------------------------------------------

RELEASED, CAUTION, SUPPRESSED, PROTECTED = "", "E", "F", "x"

# Reason codes (open data) and their words (page). Codes are stable: they are in the CSV and the API.
FEWER_THAN_10 = "fewer_than_10"
CV_ABOVE_33_3 = "cv_above_33_3"
CV_16_6_TO_33_3 = "cv_16_6_to_33_3"
COMPLEMENT = "complement"
REASONS = {
    FEWER_THAN_10: _("fewer than 10 respondents"),
    CV_ABOVE_33_3: _("too unreliable to publish (coefficient of variation above 33.3%)"),
    CV_16_6_TO_33_3: _("use with caution (coefficient of variation from 16.6% to 33.3%)"),
    COMPLEMENT: _("hidden so that a figure for fewer than 10 respondents cannot be worked out by subtraction"),
}


@dataclass(frozen=True)
class Cell:
    """One published cell: an indicator in a domain of a wave. When ``hidden``, every figure is None."""

    indicator: str
    domain: str
    flag: str  # "" released, "E" use with caution, "F" too unreliable or too few, "x" hidden to protect another
    reason: str = ""  # a code of REASONS ("" for a released cell)
    estimate: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    cv: float | None = None
    n: int | None = None

    @property
    def hidden(self) -> bool:
        return self.flag in (SUPPRESSED, PROTECTED)

    @property
    def caution(self) -> bool:
        return self.flag == CAUTION

    @property
    def reason_text(self) -> str:
        return str(REASONS[self.reason]) if self.reason else ""


def _primary(row: Estimate) -> str:
    """The reason a stored estimate may not be published by itself ("" when it may)."""
    if row.n < MIN_RESPONDENTS:
        return FEWER_THAN_10
    figures = (row.estimate, row.se, row.ci_low, row.ci_high)
    if row.flag == SUPPRESSED or not all(math.isfinite(v) for v in figures):
        return CV_ABOVE_33_3
    return ""


# Who can be in two domains at once follows from how communities are derived (``identity.communities``):
# racialized only when not Indigenous; women and non-binary or gender-diverse people are exclusive, as
# are youth (15 to 29) and seniors (65 and over); a respondent has at most one province. Every
# Indigenous respondent is First Nations, Métis or Inuit, and may be more than one of them.
INDIGENOUS_GROUPS = ("first_nations", "metis", "inuit")
EXCLUSIVE = (("indigenous", "racialized"), ("women", "gender_diverse"), ("youth", "senior"))


def _closure(communities: Iterable[str], nominal: bool) -> frozenset[str]:
    """The communities a member of all of ``communities`` certainly belongs to. ``nominal`` adds what
    only looks certain: Black people as part of racialized people (an Indigenous Black respondent is
    Indigenous, not racialized)."""
    found = set(communities)
    if found & set(INDIGENOUS_GROUPS):
        found.add("indigenous")
    if nominal and "black" in found:
        found.add("racialized")
    return frozenset(found)


def _can_meet(a: domains.Domain, b: domains.Domain, nominal: bool) -> bool:
    """Whether one respondent can be in both domains. ``nominal`` also treats as exclusive what only
    looks exclusive: two Indigenous groups (a respondent may report several), Black and Indigenous."""
    if a.province and b.province and a.province != b.province:
        return False
    both = _closure(a.communities + b.communities, nominal)
    if any(x in both and y in both for x, y in EXCLUSIVE):
        return False
    return not (nominal and len(both & set(INDIGENOUS_GROUPS)) > 1)


def _inside(part: domains.Domain, total: domains.Domain, nominal: bool) -> bool:
    """Whether every respondent of ``part`` is in ``total`` (``nominal``: or only looks so)."""
    if total.kind == "all":
        return True
    if total.province:
        return part.province == total.province
    return set(total.communities) <= _closure(part.communities, nominal)


@dataclass(frozen=True)
class Family:
    """A published total and parts inside it that do not overlap (or only look as if they do not):
    subtracting the parts' figures from the total's gives the figure of the rest.

    ``exact``: the parts are inside the total and never share a respondent, by definition, so the rest
    is exactly ``n(total) − Σ n(part)`` respondents. Otherwise (two Indigenous groups, Black people as
    racialized) the subtraction mixes the rest with the people counted twice or outside the total, whom
    the published counts alone cannot tell apart: see ``_exposes``.
    ``covered_unless``: the total's respondents are all in a part, unless one of these domains has
    respondents (the Indigenous groups a family leaves out); None when nothing is known.
    ``published_members``: the family is checked on its published parts (the provinces: a family of
    13, whose subsets are not listed); otherwise only when every part is published, every subset of the
    parts being a family of its own.
    """

    total: str
    parts: tuple[str, ...]
    exact: bool
    covered_unless: tuple[str, ...] | None = None
    published_members: bool = False


def _families() -> list[Family]:
    """Every published total with every set of parts that, by the definitions of the domains, are inside
    it and pairwise disjoint (or look so: see ``_can_meet``); the provinces as one family of everyone."""
    found: list[Family] = []
    by_code = domains.BY_CODE
    for total in domains.DOMAINS:
        if total.kind == "all":
            provinces = tuple(d.code for d in domains.DOMAINS if d.kind == "province")
            found.append(Family(total.code, provinces, exact=True, published_members=True))
        candidates = [
            d for d in domains.DOMAINS if d != total and d.kind != "province" and _inside(d, total, nominal=True)
        ]

        def extend(chosen: list[domains.Domain], start: int, total: domains.Domain = total) -> None:
            for i in range(start, len(candidates)):
                part = candidates[i]
                if any(_can_meet(part, other, nominal=True) for other in chosen):
                    continue
                family = [*chosen, part]
                exact = all(_inside(p, total, nominal=False) for p in family) and not any(
                    _can_meet(a, b, nominal=False) for j, a in enumerate(family) for b in family[j + 1 :]
                )
                covered_unless = None
                groups = {c for p in family for c in p.communities}
                if total.communities == ("indigenous",) and all(len(p.communities) == 1 for p in family):
                    if groups <= set(INDIGENOUS_GROUPS):  # every Indigenous respondent is in one of the groups
                        covered_unless = tuple(f"community:{g}" for g in INDIGENOUS_GROUPS if g not in groups)
                found.append(Family(total.code, tuple(p.code for p in family), exact, covered_unless))
                extend(family, i + 1)

        extend([], 0)
    assert all(f.total in by_code and all(p in by_code for p in f.parts) for f in found)
    return found


FAMILIES = _families()


def _exposes(family: Family, parts: Sequence[str], n: dict[str, int]) -> bool:
    """Whether subtracting the published ``parts`` from the family's total singles out 1 to 9 respondents.

    ``rest = n(total) − Σ n(part)``. Each respondent of the total counts 1 minus the number of parts
    they are in, and each respondent of a part outside the total counts −1; the subtraction describes
    the respondents whose count is not 0.

    - Exact family: the counts are 0 or 1, so ``rest`` respondents exactly: exposed when 1 to 9 (or
      below 0, which the definitions rule out: figures that contradict them are not trusted).
    - Covered total (every Indigenous respondent is in one of the Indigenous groups, and the groups
      left out have no respondent): the counts are 0 or negative, ``−rest`` is the number of extra
      memberships and at least ``−rest / (parts − 1)`` respondents are mixed: exposed unless ``rest``
      is 0 (nobody in two groups) or that lower bound is 10 or more.
    - Otherwise the number of people mixed is unknown, but at least ``rest`` (only a respondent counted
      1 adds to it): exposed unless ``rest`` is 10 or more.
    """
    rest = n[family.total] - sum(n[p] for p in parts)
    if family.exact:
        return rest != 0 and rest < MIN_RESPONDENTS
    covered = family.covered_unless is not None and all(n.get(code, 0) == 0 for code in family.covered_unless)
    if covered and rest <= 0:
        return rest < 0 and math.ceil(-rest / (len(parts) - 1)) < MIN_RESPONDENTS
    return rest < MIN_RESPONDENTS


def protect(n: dict[str, int], hidden: set[str]) -> set[str]:
    """The cells to hide besides ``hidden`` so that no group of 1 to 9 respondents can be worked out by
    subtraction (one wave, one indicator; ``n`` is respondents per domain code, a domain without
    respondents being absent or 0).

    For every family (``FAMILIES``: a published total and published parts that are inside it and do not
    overlap, by definition or in appearance), anyone can subtract the parts' figures from the total's
    and obtain the figure of the rest: the total's respondents in no published part (among them those
    of its hidden parts), mixed, where parts may overlap, with the people counted twice. While that
    describes 1 to 9 respondents (``_exposes``), the smallest published part is hidden. Families are
    checked again until nothing changes: a cell hidden for one family may expose another.
    """
    hidden = set(hidden)
    added: set[str] = set()

    def shown(code: str) -> bool:
        return n.get(code, 0) > 0 and code not in hidden

    changed = True
    while changed:
        changed = False
        for family in FAMILIES:
            if not shown(family.total):
                continue
            if family.published_members:
                parts = [p for p in family.parts if shown(p)]
            elif all(shown(p) for p in family.parts):
                parts = list(family.parts)
            else:
                continue  # the published parts are a family of their own
            if not parts or not _exposes(family, parts, n):
                continue
            part = min(parts, key=lambda p: (n[p], DOMAIN_ORDER[p]))
            hidden.add(part)
            added.add(part)
            changed = True
    return added


def public_cells(rows: Iterable[Estimate]) -> dict[tuple[int, str, str], Cell]:
    """The publishable form of stored estimates, by (wave id, indicator, domain)."""
    groups: dict[tuple[int, str], dict[str, Estimate]] = defaultdict(dict)
    for row in rows:
        if row.indicator in INDICATOR_BY_ID and row.domain in domains.BY_CODE:
            groups[row.wave_id, row.indicator][row.domain] = row
    cells: dict[tuple[int, str, str], Cell] = {}
    for (wave_id, indicator), by_domain in groups.items():
        reasons = {code: _primary(row) for code, row in by_domain.items()}
        hidden = {code for code, reason in reasons.items() if reason}
        for code in protect({code: row.n for code, row in by_domain.items()}, hidden):
            reasons[code] = COMPLEMENT
        for code, row in by_domain.items():
            reason = reasons[code]
            if reason:
                flag = PROTECTED if reason == COMPLEMENT else SUPPRESSED
                cells[wave_id, indicator, code] = Cell(indicator, code, flag, reason)
            else:
                caution = row.flag == CAUTION
                cells[wave_id, indicator, code] = Cell(
                    indicator,
                    code,
                    CAUTION if caution else RELEASED,
                    CV_16_6_TO_33_3 if caution else "",
                    estimate=row.estimate,
                    se=row.se,
                    ci_low=row.ci_low,
                    ci_high=row.ci_high,
                    cv=row.cv,
                    n=row.n,
                )
    return cells


def _as_survey_estimate(cell: Cell) -> survey.Estimate:
    assert not cell.hidden and cell.estimate is not None and cell.se is not None and cell.n is not None
    return survey.Estimate(
        estimate=cell.estimate,
        se=cell.se,
        ci_low=cell.ci_low if cell.ci_low is not None else cell.estimate,
        ci_high=cell.ci_high if cell.ci_high is not None else cell.estimate,
        cv=cell.cv,
        n=cell.n,
        weighted_n=float(cell.n),  # not used by change(); never published
        flag=cell.flag,
    )


# --- waves and series --------------------------------------------------------------------------------


def published_waves(campaign: Campaign) -> list[Wave]:
    return list(
        Wave.objects.filter(campaign=campaign, is_published=True).select_related("place").order_by("opens_at", "pk")
    )


def series_key(wave: Wave) -> tuple[str, int | None]:
    """Waves are only ever compared within one sample type and place."""
    return (wave.sample, wave.place_id)


def baselines(waves: Sequence[Wave]) -> dict[int, Wave | None]:
    """For each wave, the baseline its change is measured from: the latest published baseline wave of
    the same sample type and place that opened before it (None for a baseline, or when there is none)."""
    found: dict[int, Wave | None] = {}
    ordered = sorted(waves, key=lambda w: (w.opens_at, w.pk))
    for wave in ordered:
        if wave.kind == Wave.Kind.BASELINE:
            found[wave.pk] = None
            continue
        earlier = [
            w
            for w in ordered
            if w.kind == Wave.Kind.BASELINE
            and series_key(w) == series_key(wave)
            and (w.opens_at, w.pk) < (wave.opens_at, wave.pk)
        ]
        found[wave.pk] = earlier[-1] if earlier else None
    return found


RAKING_LABELS = {"province": _("province or territory"), "age_band": _("age band"), "gender": _("gender")}


def rake_state(wave: Wave) -> dict[str, Any]:
    """What the last computation says about raking to census margins: raked or not, and how."""
    rake = (wave.computation or {}).get("rake")
    if not rake:
        return {"raked": False, "converged": None, "variables": []}
    details = rake if isinstance(rake, dict) else {}
    variables = details.get("variables") or details.get("margins") or []
    if isinstance(variables, dict):
        variables = list(variables)
    labels = [str(RAKING_LABELS.get(v, v)) for v in variables if isinstance(v, str)]
    converged = details.get("converged")
    return {"raked": True, "converged": converged if isinstance(converged, bool) else None, "variables": labels}


def dashboard_stamp(campaign: Campaign) -> str:
    """Changes whenever the dashboard could: a wave published or withdrawn, computed again or edited.
    (Estimates are only written by a computation, which sets ``computed_at``.)"""
    values = Wave.objects.filter(campaign=campaign, is_published=True).order_by("pk")
    values = values.values_list(
        "pk", "computed_at", "slug", "title_en", "title_fr", "kind", "sample", "place_id", "questionnaire",
        "opens_at", "closes_at", "computation",
    )
    digest = hashlib.sha256(repr(list(values)).encode()).hexdigest()[:24]
    return f"{campaign.pk}:{digest}"


# --- change ------------------------------------------------------------------------------------------

INCREASE, DECREASE, NO_CLEAR_CHANGE = "increase", "decrease", "none"
VERDICTS = {
    INCREASE: _("a real increase"),
    DECREASE: _("a real decrease"),
    NO_CLEAR_CHANGE: _("no clear change"),
}


@dataclass(frozen=True)
class ChangeCell:
    """Change of one indicator in one domain from the baseline wave, in percentage points.

    ``direction`` is decided by ``judge`` over every change of the wave at once (Benjamini–Hochberg):
    "a real increase" or "a real decrease" only when the change stays significant after allowing for
    the number of comparisons (``p_adjusted`` at most ``multiplicity.FDR``)."""

    baseline: str  # the baseline wave's title
    shown: bool
    points: float | None = None  # difference × 100
    ci_low_points: float | None = None  # the change's own 95% interval (not adjusted)
    ci_high_points: float | None = None
    p_value: float | None = None  # the change's own p-value
    p_adjusted: float | None = None  # Benjamini–Hochberg, over the wave's comparisons with its baseline
    comparisons: int = 0  # how many comparisons the wave's changes were judged among
    direction: str = ""  # INCREASE, DECREASE or NO_CLEAR_CHANGE
    caution: bool = False  # a cell flagged E is involved
    why_not: str = ""  # why it is not shown

    @property
    def verdict(self) -> str:
        return str(VERDICTS[self.direction]) if self.direction else ""


def compare(baseline: Wave, before: Cell | None, after: Cell | None) -> ChangeCell:
    """The change between two published cells of one series (``lib.survey.change``), or why not; not
    yet judged (``judge`` gives the verdict, among all the wave's changes)."""
    title = baseline.title
    if before is None or after is None:
        return ChangeCell(title, False, why_not=gettext("not shown: no figure to compare with"))
    if before.hidden:
        return ChangeCell(title, False, why_not=gettext("not shown: the baseline figure is not published"))
    if after.hidden:
        return ChangeCell(title, False, why_not=gettext("not shown: this figure is not published"))
    result = survey.change(_as_survey_estimate(before), _as_survey_estimate(after))
    return ChangeCell(
        title,
        True,
        points=100 * result.difference,
        ci_low_points=100 * result.ci_low,
        ci_high_points=100 * result.ci_high,
        p_value=result.p_value,
        caution=before.caution or after.caution,
    )


def judge(changes: dict[Any, ChangeCell]) -> dict[Any, ChangeCell]:
    """The verdicts of one wave's changes from its baseline, judged together: Benjamini–Hochberg adjusted
    p-values over every shown change (every indicator × domain whose two figures are published), so that
    among the changes called real, at most 5% are expected to be chance (the false discovery rate)."""
    shown = [key for key, change in changes.items() if change.shown]
    adjusted = multiplicity.adjust_bh([changes[key].p_value for key in shown])
    judged = dict(changes)
    for key, p_adjusted in zip(shown, adjusted, strict=True):
        change = changes[key]
        real = math.isfinite(p_adjusted) and p_adjusted <= multiplicity.FDR and change.points != 0
        direction = (INCREASE if (change.points or 0) > 0 else DECREASE) if real else NO_CLEAR_CHANGE
        judged[key] = replace(
            change,
            p_adjusted=p_adjusted if math.isfinite(p_adjusted) else None,
            comparisons=len(shown),
            direction=direction,
        )
    return judged


def wave_changes(
    wave: Wave, baseline: Wave, cells: dict[tuple[int, str, str], Cell]
) -> dict[tuple[str, str], ChangeCell]:
    """Every change of ``wave`` from ``baseline`` the dashboard can show, by (indicator, domain): the six
    shares in every domain where the wave has a figure, judged together (``judge``)."""
    changes = {}
    for indicator in SHARES:
        for domain in domains.DOMAINS:
            after = cells.get((wave.pk, indicator.id, domain.code))
            if after is not None:
                before = cells.get((baseline.pk, indicator.id, domain.code))
                changes[indicator.id, domain.code] = compare(baseline, before, after)
    return judge(changes)


# --- the dashboard -----------------------------------------------------------------------------------

CHART_WIDTH = 400
PLOT_X0 = 8.0
PLOT_WIDTH = 384.0
ROW_HEIGHT = 50
LABEL_CHARS = 34


def _x(share: float) -> float:
    return PLOT_X0 + PLOT_WIDTH * min(max(share, 0.0), 1.0)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


@dataclass(frozen=True)
class WaveInfo:
    pk: int
    slug: str
    title: str
    kind: str
    kind_label: str
    opens: Any  # date
    closes: Any  # date
    questionnaire: str
    raked: bool
    rake_converged: bool | None
    rake_variables: list[str]
    baseline_title: str  # "" for a baseline, or when no baseline is published


@dataclass(frozen=True)
class ChartRow:
    label: str
    cell: Cell
    text_y: str
    bar_y: str
    bar_width: str
    whisker_y: str
    whisker_x1: str
    whisker_x2: str
    cap_y1: str
    cap_y2: str
    bar_x: str = _fmt(PLOT_X0)


@dataclass(frozen=True)
class ReferenceLine:
    x: str
    y1: str
    y2: str
    text_y: str
    note_y: str
    figure: reference.Figure


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rows: list[ChartRow]
    ticks: list[tuple[str, int]]  # (x, percent)
    axis_y: str
    tick_text_y: str
    reference: ReferenceLine | None


@dataclass(frozen=True)
class TrendRow:
    wave: WaveInfo
    cell: Cell
    change: ChangeCell | None  # None for a baseline


@dataclass(frozen=True)
class Trend:
    """One indicator over the waves of a series (its chart and its table)."""

    indicator: str
    label: str
    short_label: str
    rows: list[TrendRow]
    chart: Chart
    is_reference_indicator: bool


@dataclass(frozen=True)
class DomainRow:
    code: str
    label: str
    cells: list[tuple[Cell | None, ChangeCell | None]]  # one per share indicator


@dataclass(frozen=True)
class DomainTable:
    kind: str
    title: str
    rows: list[DomainRow]


@dataclass(frozen=True)
class Series:
    key: str  # for ids in the page
    sample: str
    sample_label: str
    place_name: str
    waves: list[WaveInfo]
    latest: WaveInfo
    raked_latest: bool
    trends: list[Trend]
    changes: list[tuple[str, Cell | None, Cell | None, ChangeCell]]  # latest against its baseline
    domain_tables: list[DomainTable]
    comparisons: int = 0  # the latest wave's changes from its baseline, judged together


@dataclass(frozen=True)
class ItemWording:
    indicator: str
    label: str
    question: str
    counted: str  # the answers the indicator counts, "A or B"
    choices: list[str]


@dataclass(frozen=True)
class Dashboard:
    language: str
    series: list[Series]
    indicators: list[tuple[str, str, str]]  # (id, short label, label) of the six shares
    questionnaires: list[tuple[str, list[ItemWording]]]  # versions used by the published waves
    reference_series: list[reference.Figure] = field(default_factory=list)
    reference_latest: reference.Figure | None = None
    reference_source: str = reference.SOURCE_URL
    reference_title: str = ""


def _wave_info(wave: Wave, baseline: Wave | None) -> WaveInfo:
    rake = rake_state(wave)
    return WaveInfo(
        pk=wave.pk,
        slug=wave.slug,
        title=wave.title,
        kind=wave.kind,
        kind_label=str(wave.get_kind_display()),
        opens=timezone.localdate(wave.opens_at),
        closes=timezone.localdate(wave.closes_at),
        questionnaire=wave.questionnaire,
        raked=rake["raked"],
        rake_converged=rake["converged"],
        rake_variables=rake["variables"],
        baseline_title=baseline.title if baseline else "",
    )


def _chart(rows: list[TrendRow], with_reference: bool) -> Chart:
    chart_rows = []
    for i, row in enumerate(rows):
        top = 8 + i * ROW_HEIGHT
        cell = row.cell
        shown = not cell.hidden and cell.estimate is not None
        low = cell.ci_low if shown and cell.ci_low is not None else 0.0
        high = cell.ci_high if shown and cell.ci_high is not None else 0.0
        label = row.wave.title if len(row.wave.title) <= LABEL_CHARS else row.wave.title[: LABEL_CHARS - 1] + "…"
        chart_rows.append(
            ChartRow(
                label=label,
                cell=cell,
                text_y=_fmt(top + 14),
                bar_y=_fmt(top + 20),
                bar_width=_fmt(_x(cell.estimate) - PLOT_X0) if shown and cell.estimate is not None else "0",
                whisker_y=_fmt(top + 29),
                whisker_x1=_fmt(_x(low)),
                whisker_x2=_fmt(_x(high)),
                cap_y1=_fmt(top + 22),
                cap_y2=_fmt(top + 36),
            )
        )
    axis_y = 8 + len(rows) * ROW_HEIGHT
    height = axis_y + 26
    ref = None
    if with_reference:
        figure = reference.latest()
        ref = ReferenceLine(
            x=_fmt(_x(figure.percent / 100 if figure.percent is not None else 0.0)),
            y1="4",
            y2=_fmt(axis_y),
            text_y=_fmt(axis_y + 44),
            note_y=_fmt(axis_y + 62),
            figure=figure,
        )
        height += 44
    ticks = [(_fmt(_x(p / 100)), p) for p in (0, 25, 50, 75, 100)]
    return Chart(CHART_WIDTH, height, chart_rows, ticks, _fmt(axis_y), _fmt(axis_y + 18), ref)


def _series_label(sample: str) -> str:
    return str(Wave.Sample(sample).label)


def dashboard(campaign: Campaign, language: str) -> Dashboard:
    """Everything the public results page shows, in ``language``; picklable, so it can be cached."""
    with translation.override(language):
        return _dashboard(campaign, language)


def _dashboard(campaign: Campaign, language: str) -> Dashboard:
    waves = published_waves(campaign)
    base_of = baselines(waves)
    cells = public_cells(Estimate.objects.filter(wave__in=waves))
    infos = {w.pk: _wave_info(w, base_of[w.pk]) for w in waves}
    by_series: dict[tuple[str, int | None], list[Wave]] = defaultdict(list)
    for wave in waves:
        by_series[series_key(wave)].append(wave)

    # Each wave's changes from its baseline, judged together (every indicator × domain).
    judged = {
        wave.pk: wave_changes(wave, base_of[wave.pk], cells)
        for wave in waves
        if wave.kind != Wave.Kind.BASELINE and base_of[wave.pk] is not None
    }
    no_baseline = ChangeCell("", False, why_not=gettext("no baseline of this sample is published"))

    series_list = []
    for (sample, place_id), members in by_series.items():
        place = members[0].place
        latest = members[-1]
        trends = []
        for indicator in SHARES:
            rows = []
            for wave in members:
                cell = cells.get((wave.pk, indicator.id, domains.ALL))
                if cell is None:
                    continue
                change = None
                if wave.kind != Wave.Kind.BASELINE:
                    change = judged[wave.pk][indicator.id, domains.ALL] if wave.pk in judged else no_baseline
                rows.append(TrendRow(infos[wave.pk], cell, change))
            with_reference = indicator.id == reference.INDICATOR
            trends.append(
                Trend(
                    indicator.id,
                    str(indicator.label),
                    str(indicator.short_label),
                    rows,
                    _chart(rows, with_reference),
                    with_reference,
                )
            )
        baseline = base_of[latest.pk]
        latest_changes = judged.get(latest.pk, {})
        changes = []
        if baseline is not None:
            for indicator in SHARES:
                before = cells.get((baseline.pk, indicator.id, domains.ALL))
                after = cells.get((latest.pk, indicator.id, domains.ALL))
                change = latest_changes.get((indicator.id, domains.ALL)) or compare(baseline, before, after)
                changes.append((str(indicator.short_label), before, after, change))
        tables = []
        for kind in ("province", "community", "intersection"):
            table_rows = []
            for domain in domains.DOMAINS:
                if domain.kind != kind:
                    continue
                row_cells: list[tuple[Cell | None, ChangeCell | None]] = []
                for indicator in SHARES:
                    cell = cells.get((latest.pk, indicator.id, domain.code))
                    change = latest_changes.get((indicator.id, domain.code)) if cell is not None else None
                    row_cells.append((cell, change))
                if any(c is not None for c, _change in row_cells):
                    table_rows.append(DomainRow(domain.code, domain.label, row_cells))
            if table_rows:
                tables.append(DomainTable(kind, str(domains.KIND_TITLES[kind]), table_rows))
        key = f"{sample}-{place.slug if place else 'all'}"
        series_list.append(
            Series(
                key=key,
                sample=sample,
                sample_label=_series_label(sample),
                place_name=place.name if place else "",
                waves=[infos[w.pk] for w in members],
                latest=infos[latest.pk],
                raked_latest=infos[latest.pk].raked,
                trends=trends,
                changes=changes,
                domain_tables=tables,
                comparisons=sum(change.shown for change in latest_changes.values()),
            )
        )

    versions = sorted({w.questionnaire for w in waves if w.questionnaire in instrument.QUESTIONNAIRES})
    questionnaires = [(version, _wording(instrument.QUESTIONNAIRES[version])) for version in versions]
    return Dashboard(
        language=language,
        series=series_list,
        indicators=[(i.id, str(i.short_label), str(i.label)) for i in SHARES],
        questionnaires=questionnaires,
        reference_series=list(reference.SERIES),
        reference_latest=reference.latest(),
        reference_title=str(reference.SOURCE_TITLE),
    )


def _wording(questionnaire: instrument.Questionnaire) -> list[ItemWording]:
    found = []
    for indicator in SHARES:
        try:
            item = questionnaire.item(indicator.item)
        except KeyError:
            continue
        found.append(
            ItemWording(
                indicator=indicator.id,
                label=str(indicator.short_label),
                question=str(item.text),
                counted=gettext(" or ").join(
                    item.label(code) for code, _label in item.choices if code in indicator.categories
                ),
                choices=[str(label) for _code, label in item.choices],
            )
        )
    return found


# --- open data ---------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "campaign",
    "wave",
    "wave_title_en",
    "wave_title_fr",
    "sample",
    "place",
    "questionnaire",
    "opens",
    "closes",
    "indicator",
    "indicator_label_en",
    "indicator_label_fr",
    "domain",
    "domain_label_en",
    "domain_label_fr",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "cv",
    "n",
    "flag",
    "flag_reason",
)
WAVE_COLUMNS = CSV_COLUMNS[1:9]
ESTIMATE_COLUMNS = CSV_COLUMNS[9:]


def _round(value: float | None, digits: int = DECIMALS) -> float | None:
    return None if value is None else round(value, digits)


def _labels() -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    for language in ("en", "fr"):
        with translation.override(language):
            for indicator in ALL_INDICATORS:
                labels.setdefault(f"indicator:{indicator.id}", {})[language] = str(indicator.label)
            for domain in domains.DOMAINS:
                labels.setdefault(f"domain:{domain.code}", {})[language] = domain.label
    return labels


def wave_fields(wave: Wave) -> dict[str, Any]:
    return {
        "wave": wave.slug,
        "wave_title_en": wave.title_en,
        "wave_title_fr": wave.title_fr,
        "sample": wave.sample,
        "place": wave.place.slug if wave.place else "",
        "questionnaire": wave.questionnaire,
        "opens": timezone.localdate(wave.opens_at).isoformat(),
        "closes": timezone.localdate(wave.closes_at).isoformat(),
    }


def cell_fields(cell: Cell, labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One cell for the open data: a hidden cell has None for every figure, with its flag and reason."""
    return {
        "indicator": cell.indicator,
        "indicator_label_en": labels[f"indicator:{cell.indicator}"]["en"],
        "indicator_label_fr": labels[f"indicator:{cell.indicator}"]["fr"],
        "domain": cell.domain,
        "domain_label_en": labels[f"domain:{cell.domain}"]["en"],
        "domain_label_fr": labels[f"domain:{cell.domain}"]["fr"],
        "estimate": _round(cell.estimate),
        "se": _round(cell.se),
        "ci_low": _round(cell.ci_low),
        "ci_high": _round(cell.ci_high),
        "cv": _round(cell.cv, 1),
        "n": cell.n,
        "flag": cell.flag,
        "flag_reason": cell.reason,
    }


def indicator_waves(campaign: Campaign) -> list[tuple[Wave, list[dict[str, Any]]]]:
    """The published waves, each with its cells for the open data (indicators, then domains, in order)."""
    waves = published_waves(campaign)
    cells = public_cells(Estimate.objects.filter(wave__in=waves))
    labels = _labels()
    per_wave: dict[int, list[Cell]] = defaultdict(list)
    for (wave_id, _indicator, _domain), cell in cells.items():
        per_wave[wave_id].append(cell)
    found = []
    for wave in waves:
        ordered = sorted(per_wave[wave.pk], key=lambda c: (INDICATOR_ORDER[c.indicator], DOMAIN_ORDER[c.domain]))
        found.append((wave, [cell_fields(c, labels) for c in ordered]))
    return found


def estimates_rows(campaign: Campaign) -> list[dict[str, Any]]:
    """One row per published cell of every published wave, with the columns of ``CSV_COLUMNS``."""
    rows = []
    for wave, cells in indicator_waves(campaign):
        fields = {"campaign": campaign.slug, **wave_fields(wave)}
        rows += [{**fields, **cell} for cell in cells]
    return rows


def api_waves(campaign: Campaign) -> list[dict[str, Any]]:
    """The open data grouped by wave (the API): the CSV's fields, with the wave's kind, baseline and
    weighting."""
    found = []
    waves = indicator_waves(campaign)
    base_of = baselines([wave for wave, _cells in waves])
    for wave, cells in waves:
        fields = wave_fields(wave)
        baseline = base_of[wave.pk]
        found.append(
            {
                **fields,
                "place": fields["place"] or None,
                "opens": timezone.localdate(wave.opens_at),
                "closes": timezone.localdate(wave.closes_at),
                "kind": wave.kind,
                "baseline": baseline.slug if baseline else None,
                "raked": rake_state(wave)["raked"],
                "estimates": cells,
            }
        )
    return found
