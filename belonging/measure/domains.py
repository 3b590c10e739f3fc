"""The domains estimates are published for: everyone, each province or territory, each centred
community, and a few intersections of communities. Codes are stable (they appear in the open data).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from belonging.core import identity
from belonging.core.provinces import Province

ALL = "all"

# Intersections of two communities, chosen because the national figures show they differ
# (reference/CANADA.md §2.4) and the plan centres them.
INTERSECTIONS: tuple[tuple[str, str], ...] = (
    (identity.Community.INDIGENOUS, identity.Community.WOMEN),
    (identity.Community.RACIALIZED, identity.Community.WOMEN),
    (identity.Community.RACIALIZED, identity.Community.YOUTH),
    (identity.Community.NEWCOMER, identity.Community.WOMEN),
    (identity.Community.TWO_SLGBTQ, identity.Community.YOUTH),
    (identity.Community.DISABILITY, identity.Community.FINANCIAL_DIFFICULTY),
)


@dataclass(frozen=True)
class Domain:
    code: str  # "all", "province:ON", "community:women", "community:racialized+community:youth"
    kind: str  # "all", "province", "community", "intersection"
    province: str = ""
    communities: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "all":
            return gettext("Everyone")
        if self.kind == "province":
            return str(Province(self.province).label)
        names = [str(identity.Community(c).label) for c in self.communities]
        return gettext(" and ").join(names) if len(names) > 1 else names[0]

    def contains(self, province: str, communities: set[str]) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "province":
            return province == self.province
        return all(c in communities for c in self.communities)


def all_domains() -> list[Domain]:
    found = [Domain(ALL, "all")]
    found += [Domain(f"province:{code}", "province", province=code) for code in Province.values]
    found += [Domain(f"community:{code}", "community", communities=(code,)) for code in identity.Community.values]
    found += [
        Domain(f"community:{a}+community:{b}", "intersection", communities=(a, b)) for a, b in INTERSECTIONS
    ]
    return found


DOMAINS = all_domains()
BY_CODE = {d.code: d for d in DOMAINS}

KIND_TITLES = {
    "all": _("Everyone"),
    "province": _("By province or territory"),
    "community": _("By community"),
    "intersection": _("Intersections"),
}
