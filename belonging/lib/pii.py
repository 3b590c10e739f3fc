"""Spot personal information in free text so moderators can be offered redactions (no Django imports).

:func:`find_pii` only *suggests*: it prefers a few false positives to missed addresses, but every
pattern is anchored on a strong signal (an ``@``, a valid area code, a valid postal-code letter
set, a Luhn checksum, a civic number followed by a street type) to keep false positives rare.
:func:`redact` applies chosen spans and :func:`is_redaction_of` checks that a moderator's edit only
removed text and added none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("email", "phone", "postal_code", "sin", "address")

_EMAIL_RE = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# North American numbers: area code and exchange start with 2-9; optional +1 and extension.
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+?1[ .-]?)?"
    r"(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-]?)"
    r"[2-9]\d\d[ .-]?\d{4}"
    r"(?:,? ?(?:ext\.?|extension|x|poste|p\.) ?\d{1,6})?"
    r"(?!\w)",
    re.IGNORECASE,
)

_POSTAL_CODE_RE = re.compile(r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ -]?\d[ABCEGHJ-NPRSTV-Z]\d\b", re.IGNORECASE)

# Social Insurance Number: three groups of three digits, one separator style throughout.
_SIN_RE = re.compile(r"(?<![\w-])\d{3}([ -]?)\d{3}\1\d{3}(?![\w-])")

# Addresses: a civic number ("12", "12B", "1200-45"), then either an English name + street type
# ("Bank Street West") or a French street type + name ("rue Saint-Denis", "avenue du Parc").
# Name words are capitalized or ordinals, which keeps "walked 5 miles down the road" out (and so
# misses an all-lower-case "12 main street"); "In 2015 The Main Street Project" is kept out too.
_CIVIC = r"(?<![\w$.,-])\d{1,6}(?:-\d{1,6}|[A-Za-z])?\b"
_UPPER = "A-ZÀ-ÖØ-ÞŒ"
# A name word: an ordinal, or a capitalized word that may hold dots ("A.", "St.") but not end a sentence.
_WORD = rf"(?:\d{{1,3}}(?:st|nd|rd|th|e|er|re)\b|[{_UPPER}][\w'’-]*(?:\.[\w'’-]+)*\.??)"
_EN_TYPES = (
    r"(?:Street|Avenue|Road|Boulevard|Drive|Crescent|Court|Lane|Way|Place|Terrace|Parkway|Highway)\b"
    r"|(?:St|Ave|Rd|Blvd|Dr|Cres|Ct|Pl|Hwy)\b\.?"
)
_EN_NOT_A_NAME = r"(?!(?:The|A|An|I|In|On|At|My|Our|We|He|She|They|It)\b)"
_EN_DIRECTION = r"(?:North|South|East|West|N|S|E|W|NE|NW|SE|SW)\b\.?"
_FR_TYPES = "rue|avenue|av|boulevard|boul|bd|chemin|ch|route|rang|place|allée|montée|côte"
_FR_LINK = r"(?:(?:de[ \t]+la|de|du|des|la|le|les)[ \t]+|(?:de[ \t]+)?[dl]['’])"
_FR_WORD = rf"(?:{_FR_LINK}?(?:{_WORD}|\d{{1,4}}\b))"
_FR_DIRECTION = r"(?:Est|Ouest|Nord|Sud|E|O|N|S)\b"
_ADDRESS_RE = re.compile(
    rf"{_CIVIC},?[ \t]+(?:"
    rf"{_EN_NOT_A_NAME}{_WORD}(?:[ \t]+{_WORD}){{0,3}}[ \t]+(?i:{_EN_TYPES})(?:[ \t]+{_EN_DIRECTION})?"
    rf"|(?i:{_FR_TYPES})\b\.?[ \t]+{_FR_WORD}(?:[ \t]+{_FR_WORD}){{0,3}}(?:[ \t]+{_FR_DIRECTION})?"
    r")"
)


@dataclass(frozen=True)
class Finding:
    """One suspected piece of personal information: ``text == source[start:end]``."""

    kind: str
    start: int
    end: int
    text: str


def _luhn_ok(digits: str) -> bool:
    """True if ``digits`` pass the Luhn checksum (as Canadian SINs do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _candidates(text: str) -> list[Finding]:
    """Every match of every pattern, overlaps included."""
    found: list[Finding] = []
    patterns = (("email", _EMAIL_RE), ("phone", _PHONE_RE), ("postal_code", _POSTAL_CODE_RE))
    patterns += (("sin", _SIN_RE), ("address", _ADDRESS_RE))
    for kind, pattern in patterns:
        for m in pattern.finditer(text):
            if kind == "sin" and not _luhn_ok(re.sub(r"\D", "", m.group())):
                continue
            found.append(Finding(kind, m.start(), m.end(), m.group()))
    return found


def find_pii(text: str) -> list[Finding]:
    """Suspected personal information in ``text``, sorted by start and non-overlapping.

    Of overlapping candidates an email wins, then the longer one, then the earlier one.

    >>> [(f.kind, f.text) for f in find_pii("Write to jo@example.ca or call 613-555-0199.")]
    [('email', 'jo@example.ca'), ('phone', '613-555-0199')]
    """
    ranked = sorted(_candidates(text), key=lambda f: (f.kind != "email", f.start - f.end, f.start))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= k.start or k.end <= finding.start for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str, spans: list[tuple[int, int]], marker: str) -> str:
    """Replace each span of ``text`` with ``marker``; overlapping or touching spans share one marker.

    Empty spans are ignored and spans are clipped to the text.

    >>> redact("call 613-555-0199 now", [(5, 17)], "[removed]")
    'call [removed] now'
    """
    merged: list[list[int]] = []
    for start, end in sorted((max(s, 0), min(e, len(text))) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[str] = []
    position = 0
    for start, end in merged:
        pieces += [text[position:start], marker]
        position = end
    return "".join(pieces) + text[position:]


def is_redaction_of(original: str, redacted: str, marker: str) -> bool:
    """True iff ``redacted`` only removes text from ``original``, never adds any.

    Removed text is either replaced with ``marker`` or, next to a marker or at either end, deleted
    outright; an edit without any marker must leave the text unchanged. Whitespace at the very ends
    and next to markers is ignored. Concretely: the pieces of ``redacted`` between markers, stripped,
    occur in ``original`` in order and without overlapping (greedy leftmost matching decides this).

    >>> is_redaction_of("I live at 12 Main St.", "I live at [removed].", "[removed]")
    True
    >>> is_redaction_of("I live at 12 Main St.", "I live at [removed] Ottawa.", "[removed]")
    False
    """
    if not marker:
        raise ValueError("the marker must not be empty")
    if marker not in redacted:
        return redacted.strip() == original.strip()
    position = 0
    for piece in (part.strip() for part in redacted.split(marker)):
        found = original.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True
