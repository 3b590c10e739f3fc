"""Canadian postal codes: format validation and consistency with the province (no Django imports).

Facts from shared/reference/CANADA.md §4: the first letter of a postal code tells the province,
except X, which Nunavut and the Northwest Territories share and which is told apart by the full
forward sortation area (FSA, the first three characters).
"""

from __future__ import annotations

import re

POSTAL_CODE_RE = re.compile(r"^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] ?[0-9][ABCEGHJ-NPRSTV-Z][0-9]$")

FIRST_LETTER_PROVINCE: dict[str, str] = {
    "A": "NL",
    "B": "NS",
    "C": "PE",
    "E": "NB",
    "G": "QC",
    "H": "QC",
    "J": "QC",
    "K": "ON",
    "L": "ON",
    "M": "ON",
    "N": "ON",
    "P": "ON",
    "R": "MB",
    "S": "SK",
    "T": "AB",
    "V": "BC",
    "Y": "YT",
}
X_FSA_PROVINCE: dict[str, str] = {
    "X0A": "NU",
    "X0B": "NU",
    "X0C": "NU",
    "X0E": "NT",
    "X0G": "NT",
    "X1A": "NT",
}


class PostalCodeError(ValueError):
    """Raised with ``code`` set to 'format' or 'province'."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def normalize_postal_code(raw: str) -> str:
    """Upper-case, strip and format as 'A1A 1A1'; raise PostalCodeError('format') if invalid."""
    compact = re.sub(r"[\s-]+", "", raw).upper()
    if len(compact) != 6 or not POSTAL_CODE_RE.match(compact):
        raise PostalCodeError("format", f"not a Canadian postal code: {raw!r}")
    return f"{compact[:3]} {compact[3:]}"


def province_for_postal_code(code: str) -> str | None:
    """The province or territory a (normalized) postal code belongs to, or None if unknown."""
    fsa = code.replace(" ", "")[:3].upper()
    if fsa.startswith("X"):
        return X_FSA_PROVINCE.get(fsa)
    return FIRST_LETTER_PROVINCE.get(fsa[:1])


def check_postal_code(raw: str, province: str) -> str:
    """Normalize ``raw`` and check it agrees with ``province``; return the normalized code."""
    code = normalize_postal_code(raw)
    found = province_for_postal_code(code)
    if found != province:
        raise PostalCodeError("province", f"{code} is not in {province}")
    return code
