"""Near-duplicate detection with 64-bit SimHash fingerprints (no Django imports).

A fingerprint summarizes the words and word 3-shingles of the folded text (case, accents and
punctuation do not count), so texts sharing most of them get fingerprints a few bits apart.
Fingerprints are signed 64-bit integers so they fit a database BigInteger column.

Single words are features beside the shingles because shingles alone are too fragile for short
texts: one changed word alters three shingles, which in a 130-word story moved the fingerprint past
:data:`NEAR` about one time in ten; with the words included it stays within 2-3 bits.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import TypeVar

from belonging.lib.textfold import fold

K = TypeVar("K")

BITS = 64
NEAR = 6  # default Hamming-distance threshold for "near duplicate"
_MASK = (1 << BITS) - 1
_WORD_RE = re.compile(r"\w+")


def _hash(feature: str) -> int:
    """A stable unsigned 64-bit hash (Python's ``hash()`` changes between processes)."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")


def _signed(value: int) -> int:
    """The unsigned 64-bit ``value`` as a signed (two's complement) 64-bit integer."""
    return value - (1 << BITS) if value >> (BITS - 1) else value


def fingerprint(text: str) -> int:
    """The signed 64-bit SimHash of the words and word 3-shingles of ``fold(text)``; 0 without words."""
    words = _WORD_RE.findall(fold(text))
    features = words + [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    weights = [0] * BITS
    for feature in features:
        h = _hash(feature)
        for bit in range(BITS):
            weights[bit] += 1 if h >> bit & 1 else -1
    return _signed(sum(1 << bit for bit, weight in enumerate(weights) if weight > 0))


def distance(a: int, b: int) -> int:
    """The Hamming distance between two 64-bit fingerprints (signed or unsigned)."""
    return ((a ^ b) & _MASK).bit_count()


def near(a: int, b: int, threshold: int = NEAR) -> bool:
    """True if fingerprints ``a`` and ``b`` differ in at most ``threshold`` bits."""
    return distance(a, b) <= threshold


def _bands(threshold: int) -> list[tuple[int, int]]:
    """(shift, mask) of ``threshold + 1`` contiguous bit bands covering all 64 bits."""
    count = min(threshold + 1, BITS)
    bands, start = [], 0
    for i in range(count):
        width = BITS // count + (i < BITS % count)
        bands.append((start, (1 << width) - 1))
        start += width
    return bands


def groups(items: list[tuple[K, int]], threshold: int = NEAR) -> list[list[K]]:
    """Group the ids of ``items`` (``(id, fingerprint)`` pairs) whose fingerprints are near, transitively.

    Only groups of two or more are returned; each lists its ids in input order, and groups are ordered
    by their first member. Candidate pairs come from band bucketing: with ``threshold + 1`` bands, two
    fingerprints at most ``threshold`` bits apart agree on at least one whole band (pigeonhole), so only
    fingerprints sharing a band value are compared, which is near-linear for fingerprints that are
    mostly far apart.
    """
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    if threshold >= 0:
        first_with: dict[int, int] = {}  # identical fingerprints are joined at once, compared once
        for i, (_, fp) in enumerate(items):
            union(first_with.setdefault(fp & _MASK, i), i)
        distinct = list(first_with.items())
        for shift, mask in _bands(threshold):
            buckets: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
            for fp, i in distinct:
                buckets[fp >> shift & mask].append((fp, i))
            for bucket in buckets.values():
                for x, (fp_a, i) in enumerate(bucket):
                    for fp_b, j in bucket[x + 1 :]:
                        if distance(fp_a, fp_b) <= threshold:
                            union(i, j)

    members: dict[int, list[K]] = defaultdict(list)
    for i, (key, _) in enumerate(items):
        members[find(i)].append(key)
    return [group for group in members.values() if len(group) > 1]
