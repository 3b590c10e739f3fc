"""Statistics Canada's published national figures for the sense-of-belonging indicator.

They are shown on the dashboard beside our own belonging indicator as a reference only: they come
from a different survey (the Canadian Social Survey: ages 15 and over, the 10 provinces, people not
living on reserve or in institutions), collected differently, so they are never mixed into our series,
our change over time or our significance tests. Figures from the Canadian Community Health Survey,
which sit much higher for the "same" question, are not used here: the two series must never share a
trend line (reference/CANADA.md §2.3).

Source: Statistics Canada, Quality of Life Framework for Canada, "Sense of belonging to local
community" (reference/CANADA.md §2.2), share answering "very strong" or "somewhat strong".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

INDICATOR = "css_belonging"  # the indicator of ours that asks Statistics Canada's question

SOURCE_URL = "https://www160.statcan.gc.ca/society-societe/local-community-collectivite-locale-eng.htm"
SOURCE_TITLE = _("Statistics Canada, Quality of Life Framework for Canada: Sense of belonging to local community")
SURVEY = _("Canadian Social Survey")
POPULATION = _("people aged 15 and over in the 10 provinces")


@dataclass(frozen=True)
class Figure:
    year: int
    quarter: int
    percent: float | None  # None: not available for that quarter (Statistics Canada's "..")

    @property
    def share(self) -> float | None:
        """The figure as a proportion (0–1), the unit of our open data."""
        return None if self.percent is None else round(self.percent / 100, 4)

    @property
    def label(self) -> str:
        return gettext("Q%(quarter)s %(year)s") % {"quarter": self.quarter, "year": self.year}


# Canadian Social Survey, very or somewhat strong sense of belonging to the local community.
SERIES: tuple[Figure, ...] = (
    Figure(2021, 3, 47.2),
    Figure(2021, 4, 45.4),
    Figure(2022, 1, 47.1),
    Figure(2022, 2, 46.9),
    Figure(2022, 3, 49.9),
    Figure(2022, 4, 45.6),
    Figure(2023, 1, None),
    Figure(2023, 2, 41.7),
)


def latest() -> Figure:
    """The most recent quarter with a published figure."""
    return next(f for f in reversed(SERIES) if f.percent is not None)
