"""Accent- and case-insensitive text folding for bilingual (English / Canadian French) search (no Django imports).

``fold`` gives the form both the indexed document (:func:`search_document`) and the query
(:func:`search_terms`) are compared in, so "École", "ecole" and "ÉCOLE" all meet.
"""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose (casefold already turns ß into ss; kept for clarity).
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})
# French elided articles and pronouns: l'école, d'abord, qu'il, j'ai, n'est, s'il, c'est, m'a, t'as.
_ELISION_RE = re.compile(r"\b(?:qu|[cdjlmnst])['’]")
_WORD_RE = re.compile(r"\w+")
_TERM_RE = re.compile(r"[0-9a-z_]+")
_APOSTROPHES = str.maketrans({"'": " ", "’": " "})


def fold(text: str) -> str:
    """Case-fold, strip diacritics, expand œ/æ/ß and collapse whitespace.

    >>> fold("  Réseau \\t Œuvre ")
    'reseau oeuvre'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().translate(_LIGATURES).split())


def search_terms(query: str, max_terms: int = 8) -> list[str]:
    """The distinct folded words of ``query`` worth searching for, in order, at most ``max_terms``.

    Drops French elision prefixes (l', qu', … with ' or ’), one-character words and any word left
    with characters outside ``[0-9a-z_]`` after folding, so every term is safe in a full-text query.

    >>> search_terms("L’école du réseau")
    ['ecole', 'du', 'reseau']
    """
    terms: list[str] = []
    for word in _WORD_RE.findall(_ELISION_RE.sub(" ", fold(query))):
        if len(terms) >= max_terms:
            break
        if len(word) > 1 and _TERM_RE.fullmatch(word) and word not in terms:
            terms.append(word)
    return terms


def search_document(*parts: str) -> str:
    """Fold and join the non-empty ``parts`` into one indexable string; apostrophes become spaces.

    >>> search_document("L'école", "", "Réseau")
    'l ecole reseau'
    """
    folded = (fold(part.translate(_APOSTROPHES)) for part in parts)
    return " ".join(part for part in folded if part)
