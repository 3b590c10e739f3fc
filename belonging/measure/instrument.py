"""The belonging survey's questionnaire: versioned, bilingual, with item ids that never change.

The questionnaire lives in code, not in the database, because comparing waves is only honest when
every wave asked the same question in the same words: a wave records the version it used, a new
wording is a new item id, and an item id is never reused for a different question. Texts go through
gettext, so each has its Canadian French in the catalog.

Three kinds of item:

- ``css_belonging``: Statistics Canada's sense-of-belonging question, in the Canadian Social
  Survey's exact words and answer categories (reference/CANADA.md §2.1), so results can be set
  beside the national series.
- Five outcome items (contribution, power, belonging, equity, possibility) on one common five-point
  agreement scale.
- The self-identification set (reference/CANADA.md §3), the same categories as everywhere else on
  the platform (``belonging.core.identity``), from which the centred communities are derived.

Every question is optional and offers "Prefer not to answer"; an unanswered or refused question is
missing for that indicator only (left out of its numerator and denominator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from belonging.core import identity
from belonging.core.provinces import Province

PREFER_NOT = identity.PREFER_NOT


class Agreement(models.TextChoices):
    """The common agreement scale of the five outcome items (scored 5 to 1)."""

    STRONGLY_AGREE = "strongly_agree", _("Strongly agree")
    SOMEWHAT_AGREE = "somewhat_agree", _("Somewhat agree")
    NEITHER = "neither", _("Neither agree nor disagree")
    SOMEWHAT_DISAGREE = "somewhat_disagree", _("Somewhat disagree")
    STRONGLY_DISAGREE = "strongly_disagree", _("Strongly disagree")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


AGREEMENT_SCORES = {
    Agreement.STRONGLY_AGREE: 5,
    Agreement.SOMEWHAT_AGREE: 4,
    Agreement.NEITHER: 3,
    Agreement.SOMEWHAT_DISAGREE: 2,
    Agreement.STRONGLY_DISAGREE: 1,
}


class SenseOfBelonging(models.TextChoices):
    """Statistics Canada’s answer categories (Canadian Social Survey), plus a refusal."""

    VERY_STRONG = "very_strong", _("Very strong")
    SOMEWHAT_STRONG = "somewhat_strong", _("Somewhat strong")
    SOMEWHAT_WEAK = "somewhat_weak", _("Somewhat weak")
    VERY_WEAK = "very_weak", _("Very weak")
    NO_OPINION = "no_opinion", _("No opinion")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class Kind(models.TextChoices):
    SINGLE = "single", _("One answer")
    MULTIPLE = "multiple", _("Several answers")


@dataclass(frozen=True)
class Item:
    id: str  # stable across versions and waves; never reused for another question
    text: Promise
    choices: list[tuple[str, Promise]]
    kind: str = Kind.SINGLE
    help_text: Promise | str = ""

    @property
    def codes(self) -> set[str]:
        return {code for code, _label in self.choices}

    def label(self, code: str) -> str:
        return str(dict(self.choices).get(code, code))


@dataclass(frozen=True)
class Page:
    """One question group, shown on a page of its own."""

    id: str
    title: Promise
    items: tuple[Item, ...]
    intro: Promise | str = ""


@dataclass(frozen=True)
class Indicator:
    """A published measure: the weighted share of valid answers in ``categories`` (a proportion) or
    the weighted mean score (``scores``). "Prefer not to answer" is never a valid answer."""

    id: str
    item: str
    label: Promise
    short_label: Promise
    categories: frozenset[str] = frozenset()
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def is_share(self) -> bool:
        return bool(self.categories)

    def value(self, answer: object) -> float | None:
        """1/0 (share) or the score (mean) for one answer; None when missing or refused."""
        if not isinstance(answer, str) or not answer or answer == PREFER_NOT:
            return None
        if self.is_share:
            return 1.0 if answer in self.categories else 0.0
        return self.scores.get(answer)


# ---------------------------------------------------------------------------------------------
# Items. Ids are permanent.

CSS_BELONGING = Item(
    "css_belonging",
    _("How would you describe your sense of belonging to your local community?"),
    SenseOfBelonging.choices,
    help_text=_("This is Statistics Canada’s question, asked in the same words."),
)


def _agree(item_id: str, text: Promise) -> Item:
    return Item(item_id, text, Agreement.choices)


CONTRIBUTION = _agree("contribution", _("I can make a meaningful contribution to my community."))
POWER = _agree("power", _("People like me can influence decisions that affect my community."))
BELONGING = _agree("belonging", _("I feel that I belong in my community."))
EQUITY = _agree("equity", _("People in my community are treated fairly, whatever their background."))
POSSIBILITY = _agree("possibility", _("I am hopeful about what the future holds for people like me in my community."))

PROVINCE = Item("province", _("In which province or territory do you live?"), [*Province.choices, (PREFER_NOT, _("Prefer not to answer"))])
AGE_BAND = Item("age_band", _("How old are you?"), identity.AgeBand.choices)
GENDER = Item("gender", _("What is your gender?"), identity.Gender.choices)
INDIGENOUS = Item(
    "indigenous",
    _("Are you an Indigenous person?"),
    identity.Indigenous.choices,
    kind=Kind.MULTIPLE,
    help_text=_("Choose all that apply."),
)
POPULATION_GROUPS = Item(
    "population_groups",
    _("Which population groups do you belong to?"),
    identity.PopulationGroup.choices,
    kind=Kind.MULTIPLE,
    help_text=_("Choose all that apply. These are the groups Statistics Canada uses."),
)
TWO_SLGBTQ = Item(
    "two_slgbtq",
    _(
        "Are you Two-Spirit, lesbian, gay, bisexual, transgender, queer, intersex or another sexual or gender "
        "minority (2SLGBTQ+)?"
    ),
    identity.YesNo.choices,
)
DISABILITY = Item(
    "disability",
    _("Do you have a long-term condition or difficulty that limits your daily activities sometimes, often or always?"),
    identity.YesNo.choices,
)
ARRIVAL = Item("arrival", _("When did you become a permanent resident of Canada?"), identity.Arrival.choices)
FIRST_OFFICIAL_LANGUAGE = Item(
    "first_official_language",
    _("Which official language did you learn first and still speak?"),
    identity.OfficialLanguage.choices,
)
FINANCIAL_DIFFICULTY = Item(
    "financial_difficulty",
    _("How easy or difficult is it for your household to meet its needs for food, housing and other necessities?"),
    identity.FinancialDifficulty.choices,
)

OUTCOME_ITEMS = (CONTRIBUTION, POWER, BELONGING, EQUITY, POSSIBILITY)
SELF_ID_ITEMS = (
    PROVINCE,
    AGE_BAND,
    GENDER,
    INDIGENOUS,
    POPULATION_GROUPS,
    TWO_SLGBTQ,
    DISABILITY,
    ARRIVAL,
    FIRST_OFFICIAL_LANGUAGE,
    FINANCIAL_DIFFICULTY,
)

_AGREE = frozenset({Agreement.STRONGLY_AGREE, Agreement.SOMEWHAT_AGREE})
_AGREE_SCORES = {str(k): float(v) for k, v in AGREEMENT_SCORES.items()}

# The six published indicators: Statistics Canada's, then the five outcomes. "No opinion" stays in
# the belonging indicator's denominator (it is an answer); "Prefer not to answer" never counts.
INDICATORS = (
    Indicator(
        "css_belonging",
        "css_belonging",
        _("Very or somewhat strong sense of belonging to the local community"),
        _("Sense of belonging (Statistics Canada’s question)"),
        categories=frozenset({SenseOfBelonging.VERY_STRONG, SenseOfBelonging.SOMEWHAT_STRONG}),
    ),
    Indicator(
        "contribution",
        "contribution",
        _("Agree they can make a meaningful contribution to their community"),
        _("Contribution"),
        categories=_AGREE,
    ),
    Indicator(
        "power",
        "power",
        _("Agree people like them can influence decisions that affect their community"),
        _("Power"),
        categories=_AGREE,
    ),
    Indicator(
        "belonging",
        "belonging",
        _("Agree they belong in their community"),
        _("Belonging"),
        categories=_AGREE,
    ),
    Indicator(
        "equity",
        "equity",
        _("Agree people in their community are treated fairly, whatever their background"),
        _("Equity"),
        categories=_AGREE,
    ),
    Indicator(
        "possibility",
        "possibility",
        _("Agree they are hopeful about the future for people like them in their community"),
        _("Possibility"),
        categories=_AGREE,
    ),
)

def _named_score(outcome: str, measure: str) -> str:
    return gettext("%(outcome)s: %(measure)s") % {"outcome": outcome, "measure": measure}


_named_score_lazy = lazy(_named_score, str)
_SHORT_LABELS = {indicator.item: indicator.short_label for indicator in INDICATORS}

# Mean agreement scores (1 to 5) of the five outcomes, in the open data beside the shares; each label
# names its outcome ("Power: Average agreement score …").
MEAN_INDICATORS = tuple(
    Indicator(
        f"{item.id}_score",
        item.id,
        _named_score_lazy(
            _SHORT_LABELS[item.id], _("Average agreement score (1 = strongly disagree, 5 = strongly agree)")
        ),
        _("Average score"),
        scores=_AGREE_SCORES,
    )
    for item in OUTCOME_ITEMS
)


@dataclass(frozen=True)
class Questionnaire:
    version: str
    pages: tuple[Page, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for page in self.pages for item in page.items)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


V1 = Questionnaire(
    "2026.1",
    (
        Page("community", _("Your local community"), (CSS_BELONGING,)),
        Page(
            "outcomes",
            _("Your community and you"),
            OUTCOME_ITEMS,
            intro=_("How much do you agree or disagree with each statement? Think of the community where you live."),
        ),
        Page(
            "about_you",
            _("About you"),
            (PROVINCE, AGE_BAND, GENDER),
            intro=_(
                "These questions let us check whether belonging is growing for everyone. Every question is optional. "
                "Your answers are only ever shown as totals for groups large enough that no one can be recognized."
            ),
        ),
        Page("identity", _("Your identity"), (INDIGENOUS, POPULATION_GROUPS, TWO_SLGBTQ, DISABILITY)),
        Page("household", _("Language, arrival and household"), (ARRIVAL, FIRST_OFFICIAL_LANGUAGE, FINANCIAL_DIFFICULTY)),
    ),
)

QUESTIONNAIRES = {V1.version: V1}
CURRENT = V1
VERSION_CHOICES = [(version, version) for version in QUESTIONNAIRES]

# Variables organizers may rake to (population margins from the census).
RAKING_VARIABLES = {PROVINCE.id: PROVINCE, AGE_BAND.id: AGE_BAND, GENDER.id: GENDER}


def answers_identity(answers: dict[str, object]) -> tuple[identity.Answers, str]:
    """The self-identification part of a response, as ``identity.Answers`` plus the province."""

    def one(key: str) -> str:
        value = answers.get(key)
        return value if isinstance(value, str) else ""

    def many(key: str) -> tuple[str, ...]:
        value = answers.get(key)
        return tuple(value) if isinstance(value, list | tuple) else ()

    province = one("province")
    return (
        identity.Answers(
            indigenous=many("indigenous"),
            population_groups=many("population_groups"),
            gender=one("gender"),
            two_slgbtq=one("two_slgbtq"),
            disability=one("disability"),
            first_official_language=one("first_official_language"),
            arrival=one("arrival"),
            age_band=one("age_band"),
            financial_difficulty=one("financial_difficulty"),
        ),
        "" if province == PREFER_NOT else province,
    )


def communities_of(answers: dict[str, object]) -> set[str]:
    person, province = answers_identity(answers)
    return identity.communities(person, province)


def derived_fields(answers: dict[str, object]) -> tuple[str, str]:
    """``(province, encoded communities)`` for a response's stored domain fields, from its answers."""
    person, province = answers_identity(answers)
    return province, identity.encode_communities(identity.communities(person, province))


def validate_answers(questionnaire: Questionnaire, answers: dict[str, object]) -> dict[str, str]:
    """Errors by item id for answers that are not codes of their item (used by the import)."""
    errors: dict[str, str] = {}
    for item_id, value in answers.items():
        try:
            item = questionnaire.item(item_id)
        except KeyError:
            errors[item_id] = gettext("not a question of this questionnaire")
            continue
        values = value if isinstance(value, list | tuple) else [value]
        if item.kind == Kind.SINGLE and isinstance(value, list | tuple):
            errors[item_id] = gettext("only one answer is allowed")
            continue
        bad = [v for v in values if v not in item.codes]
        if bad:
            errors[item_id] = gettext("not one of the answers: %(values)s") % {"values": ", ".join(map(str, bad))}
        elif item.kind == Kind.MULTIPLE and PREFER_NOT in values and len(values) > 1:
            errors[item_id] = gettext("“Prefer not to answer” cannot be combined with another answer")
    return errors
