"""Self-identification categories (reference/CANADA.md §3) and the communities derived from them.

Every question is optional and offers "prefer not to answer". Answers are stored apart from names
and emails (each capability keeps them in a table of their own) and only ever shown in aggregate,
with small cells suppressed (``belonging.lib.suppression``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

PREFER_NOT = "prefer_not"


class Indigenous(models.TextChoices):
    """Indigenous group, distinctions-based as in the 2021 Census; several may apply."""

    FIRST_NATIONS = "first_nations", _("First Nations")
    METIS = "metis", _("Métis")
    INUK = "inuk", _("Inuk (Inuit)")
    NOT_INDIGENOUS = "not_indigenous", _("Not Indigenous")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class PopulationGroup(models.TextChoices):
    """Statistics Canada's population groups (2016–2021 standard); several may apply."""

    WHITE = "white", _("White")
    SOUTH_ASIAN = "south_asian", _("South Asian (for example East Indian, Pakistani, Sri Lankan)")
    CHINESE = "chinese", _("Chinese")
    BLACK = "black", _("Black")
    FILIPINO = "filipino", _("Filipino")
    ARAB = "arab", _("Arab")
    LATIN_AMERICAN = "latin_american", _("Latin American")
    SOUTHEAST_ASIAN = "southeast_asian", _("Southeast Asian (for example Vietnamese, Cambodian, Thai)")
    WEST_ASIAN = "west_asian", _("West Asian (for example Iranian, Afghan)")
    KOREAN = "korean", _("Korean")
    JAPANESE = "japanese", _("Japanese")
    OTHER = "other", _("Another group")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class Gender(models.TextChoices):
    WOMAN = "woman", _("Woman")
    MAN = "man", _("Man")
    NON_BINARY = "non_binary", _("Non-binary person")
    ANOTHER = "another", _("Another gender")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class YesNo(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class OfficialLanguage(models.TextChoices):
    """First official language spoken (Statistics Canada's FOLS)."""

    ENGLISH = "english", _("English")
    FRENCH = "french", _("French")
    BOTH = "both", _("English and French equally")
    NEITHER = "neither", _("Neither")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class Arrival(models.TextChoices):
    """Years since becoming a permanent resident ("newcomer" = fewer than 5 years, as in the census)."""

    BORN_IN_CANADA = "born_in_canada", _("I was born in Canada")
    UNDER_5 = "under_5", _("Less than 5 years ago")
    FROM_5_TO_9 = "5_to_9", _("5 to 9 years ago")
    TEN_PLUS = "10_plus", _("10 or more years ago")
    NOT_PERMANENT = "temporary", _("I am not a permanent resident (for example a work or study permit, or a refugee claim)")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class AgeBand(models.TextChoices):
    """Bands from which any youth definition (15–24, 15–29, 15–34) can be derived."""

    UNDER_15 = "under_15", _("Under 15")
    A15_17 = "15_17", _("15 to 17")
    A18_24 = "18_24", _("18 to 24")
    A25_29 = "25_29", _("25 to 29")
    A30_34 = "30_34", _("30 to 34")
    A35_44 = "35_44", _("35 to 44")
    A45_54 = "45_54", _("45 to 54")
    A55_64 = "55_64", _("55 to 64")
    A65_74 = "65_74", _("65 to 74")
    A75_PLUS = "75_plus", _("75 and over")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class FinancialDifficulty(models.TextChoices):
    """Household financial difficulty, asked instead of income."""

    VERY_EASY = "very_easy", _("Very easy")
    EASY = "easy", _("Easy")
    NEITHER = "neither", _("Neither easy nor difficult")
    DIFFICULT = "difficult", _("Difficult")
    VERY_DIFFICULT = "very_difficult", _("Very difficult")
    PREFER_NOT = PREFER_NOT, _("Prefer not to answer")


class Community(models.TextChoices):
    """The centred communities that public aggregates and the equity lens report on."""

    INDIGENOUS = "indigenous", _("Indigenous peoples")
    FIRST_NATIONS = "first_nations", _("First Nations")
    METIS = "metis", _("Métis")
    INUIT = "inuit", _("Inuit")
    RACIALIZED = "racialized", _("Racialized people")
    BLACK = "black", _("Black people")
    WOMEN = "women", _("Women")
    GENDER_DIVERSE = "gender_diverse", _("Non-binary and gender-diverse people")
    TWO_SLGBTQ = "2slgbtq", _("2SLGBTQ+ people")
    DISABILITY = "disability", _("People with a disability")
    OLMC = "olmc", _("Official-language minority")
    NEWCOMER = "newcomer", _("Newcomers (fewer than 5 years)")
    YOUTH = "youth", _("Youth (15 to 29)")
    SENIOR = "senior", _("Seniors (65 and over)")
    FINANCIAL_DIFFICULTY = "financial_difficulty", _("Households with financial difficulty")


@dataclass(frozen=True)
class Answers:
    """One person's self-identification; multi-answer questions are tuples of codes."""

    indigenous: tuple[str, ...] = ()
    population_groups: tuple[str, ...] = ()
    gender: str = ""
    two_slgbtq: str = ""
    disability: str = ""
    first_official_language: str = ""
    arrival: str = ""
    age_band: str = ""
    financial_difficulty: str = ""


_INDIGENOUS_GROUPS = {
    Indigenous.FIRST_NATIONS: Community.FIRST_NATIONS,
    Indigenous.METIS: Community.METIS,
    Indigenous.INUK: Community.INUIT,
}
_YOUTH = {AgeBand.A15_17, AgeBand.A18_24, AgeBand.A25_29}
_SENIOR = {AgeBand.A65_74, AgeBand.A75_PLUS}


def communities(answers: Answers, province: str) -> set[str]:
    """The communities a person belongs to by their own answers.

    Racialized follows Statistics Canada: any population group other than White, and Indigenous
    respondents are counted as Indigenous, not racialized. The official-language minority is
    derived from the province and the first official language (French outside Quebec, English in
    Quebec; "both" counts as the minority language too), never asked directly.
    """
    found: set[str] = set()
    indigenous = [_INDIGENOUS_GROUPS[g] for g in answers.indigenous if g in _INDIGENOUS_GROUPS]
    if indigenous:
        found.add(Community.INDIGENOUS)
        found.update(indigenous)
    groups = set(answers.population_groups) - {PREFER_NOT}
    if not indigenous and groups - {PopulationGroup.WHITE}:
        found.add(Community.RACIALIZED)
    if PopulationGroup.BLACK in groups:
        found.add(Community.BLACK)
    if answers.gender == Gender.WOMAN:
        found.add(Community.WOMEN)
    if answers.gender in (Gender.NON_BINARY, Gender.ANOTHER):
        found.add(Community.GENDER_DIVERSE)
    if answers.two_slgbtq == YesNo.YES:
        found.add(Community.TWO_SLGBTQ)
    if answers.disability == YesNo.YES:
        found.add(Community.DISABILITY)
    language = answers.first_official_language
    if province and (
        (province == "QC" and language in (OfficialLanguage.ENGLISH, OfficialLanguage.BOTH))
        or (province != "QC" and language in (OfficialLanguage.FRENCH, OfficialLanguage.BOTH))
    ):
        found.add(Community.OLMC)
    if answers.arrival == Arrival.UNDER_5:
        found.add(Community.NEWCOMER)
    if answers.age_band in _YOUTH:
        found.add(Community.YOUTH)
    if answers.age_band in _SENIOR:
        found.add(Community.SENIOR)
    if answers.financial_difficulty in (FinancialDifficulty.DIFFICULT, FinancialDifficulty.VERY_DIFFICULT):
        found.add(Community.FINANCIAL_DIFFICULTY)
    return found


def encode_communities(codes: Iterable[str]) -> str:
    """Store communities as ",a,b," so one can be found with a simple ``contains`` filter."""
    codes = sorted(set(codes))
    return f",{','.join(codes)}," if codes else ""


def decode_communities(value: str) -> set[str]:
    return {c for c in value.split(",") if c}
