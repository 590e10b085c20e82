"""Matching detected faces to creators, and tagging videos with the creators the evidence supports.

How faces are matched (exact nearest creator, all faces of a batch at once)
--------------------------------------------------------------------------
The creator embeddings are few (hundreds to tens of thousands) and the faces of a run are many, so the whole batch
is matched in memory: the creator embeddings are loaded once, grouped by creator (one matrix C), the faces come in
chunks (matrix D) through binary COPY (recognition/vector_copy.py: numpy parses the stream, the next chunk is read
while one is matched), and the nearest embedding of each face is found exactly; its creator is the nearest
creator. Vetoed pairs (a person said "not this creator") are masked out (every column of that creator). This is an
exact search: the same answer as `ORDER BY embedding <=> c.embedding` over every creator embedding, with no index
recall loss.

Small creator sets use one matrix product S = D @ C.T (all rows are unit vectors, so S holds every cosine
similarity) and an argmax per face. From PRUNE_MIN_EMBEDDINGS creator embeddings on, a product per creator bounds all
of its embeddings (centroid similarity + radius, see `_pruned_best`): a face of a known person is settled by its
nearest creator's few embeddings, and only faces no bound can settle (strangers, whose every creator is about as
far) pay for the whole product. The bounds are proofs, not estimates: the answer is the same.

Measured (benchmarks/bench_matching.py, 100,000 faces x 10,000 creator embeddings = 2,000 creators x 5, 30% of the
faces strangers, embedded PostgreSQL 18 + pgvector, 2 shared cores): 4.9 s in all, reading both sets included,
against one query per face over the HNSW index: the seed design's query (join, threshold, text vector) 1.98 ms a
face = ~198 s (40x), the leanest such query 1.04 ms = ~104 s (21x); top-1 identical to exact SQL on every face
checked (the HNSW queries agreed on ~90%). Exact SQL (a CROSS JOIN, or LATERAL ... ORDER BY <=> LIMIT 1 with index
scans off) costs ~50 ms a face here: each `<=>` detoasts a 2 KB vector(512) stored out of line.

The auto-tag rule (one place: face_assets.recognition.evidence)
----------------------------------------------------------------
Besides its nearest creator, matching stores for every proposed face the runner-up creator (the nearest allowed
other one) and the similarity to the creator's anchor references (not those learned automatically). The evidence
module turns them into calibrated per-face log likelihood ratios, fuses them over the video's frames (correlated
frames count as fewer independent looks) and tags the video when the fused evidence reaches the target set by the
video-level false-tag rate `auto_tag_max_false_rate`, and the anchors alone favour the creator. The tags it passes
make faces of strong tags learned references of their creator (evidence.learn_references).

Face statuses after matching: in a tagged (video, creator) the creator's faces at >= match_threshold become
'matched'; other faces at >= match_threshold are 'pending' (matched_creator_id and match_confidence set, for review);
below it 'unmatched' (matched_creator_id and match_confidence NULL).

Tags are `video_creators` rows with source 'face_recognition' and confidence = the best face's similarity. A tag
that exists already (legacy, manual, ours) is never duplicated and a legacy or manual tag is never changed. Our own
tag is removed again when its evidence no longer passes (e.g. a person rejected its faces), unless a person
confirmed one of its faces.

Decisions
---------
A face a person decided on (match_status 'manual' or 'rejected', or decided_at set) is never selected, never
written. A rejection also vetoes that creator for that face (table face_match_rejections, also filled from every
'rejected' row): whenever the face is matched again (reopened by `reject_match(..., repropose=True)`, or re-detected)
the creator is skipped and the next-best creator proposed, or none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import psycopg

from face_assets.db.schema_upgrade import upgrade
from face_assets.db.sql_files import read_sql
from face_assets.recognition import evidence
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.evidence import NO_ANCHOR, PairEvidence
from face_assets.recognition.vector_copy import copy_vectors, read_ahead

UNDECIDED_STATUSES: tuple[str, ...] = ("pending", "matched", "unmatched")
REMATCH_STATUSES: tuple[str, ...] = ("pending", "unmatched")
FETCH_CHUNK = 20_000  # faces read from PostgreSQL per round trip
WRITE_BATCH = 50_000  # faces written per UPDATE
PRODUCT_BUDGET = 32_000_000  # similarity cells per matrix product (128 MB of float32)
# When the centroid-bounded search is used instead of the full product (measured, benchmarks stage matching):
PRUNE_MIN_EMBEDDINGS = 4_000  # fewer creator embeddings: the full product costs less than bounds + anchors
PRUNE_MIN_EMBEDDINGS_PER_CREATOR = 2  # fewer per creator on average: one bound per creator saves too little
PAIR_COST = 150  # one gathered (face, embedding) product costs ~150 cells of a matrix product
ANCHOR_HOPE = 0.5  # anchor tried when centroid similarity + this x radius reaches the runner-up
BOUND_SLACK = 1e-5  # added to every radius: float32 rounding never makes a bound too tight
_NO_CREATOR = -1


# --- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatorMatrix:
    """Creator embeddings grouped by creator: columns starts[k]:starts[k+1] of `embeddings` belong to creator_ids[k]."""

    creator_ids: np.ndarray  # (k,) int64, ascending
    starts: np.ndarray  # (k,) int64
    embeddings: np.ndarray  # (m, d) float32, unit rows
    learned: np.ndarray | None = None  # (m,) bool: learned automatically (not an anchor); None: none is
    learned_video: np.ndarray | None = None  # (m,) int64: the video a learned embedding comes from (0: anchor)

    def own_video_columns(self, video_ids: np.ndarray) -> list[np.ndarray] | None:
        """Per face (its video id), the columns learned from its own video, which must not match it; None: none."""
        if self.learned_video is None:
            return None
        sources = set(np.unique(self.learned_video[self.learned_video > 0]).tolist())
        if not sources.intersection(np.unique(video_ids).tolist()):
            return None
        by_video = {v: np.flatnonzero(self.learned_video == v) for v in sources}
        empty = np.zeros(0, dtype=np.int64)
        return [by_video.get(int(v), empty) for v in video_ids.tolist()]

    @property
    def n_embeddings(self) -> int:
        return int(self.embeddings.shape[0])

    @cached_property
    def ends(self) -> np.ndarray:
        """(k,) end column (exclusive) of each creator's embeddings."""
        return np.append(self.starts[1:], self.n_embeddings).astype(np.int64)

    @cached_property
    def counts(self) -> np.ndarray:
        """(k,) how many embeddings each creator has."""
        return self.ends - self.starts

    @cached_property
    def embedding_creator_ids(self) -> np.ndarray:
        """(m,) the creator of each embedding column."""
        return np.repeat(self.creator_ids, self.counts)

    @cached_property
    def centroids(self) -> np.ndarray:
        """(k, d) float32: the mean of each creator's embeddings (not normalised: the bound needs the mean)."""
        return (np.add.reduceat(self.embeddings, self.starts, axis=0) / self.counts[:, None]).astype(np.float32)

    @cached_property
    def radii(self) -> np.ndarray:
        """(k,) float32: the largest distance of a creator's embedding from its centroid, plus BOUND_SLACK."""
        owner = np.repeat(np.arange(len(self.creator_ids)), self.counts)
        dist2 = np.square(self.embeddings - self.centroids[owner]).sum(axis=1)
        return (np.sqrt(np.maximum.reduceat(dist2, self.starts)) + BOUND_SLACK).astype(np.float32)

    @cached_property
    def bound_matrix(self) -> np.ndarray:
        """(k, d + 1) float32: [centroid, radius] per creator, so that [face, 1] @ bound_matrix.T is each bound."""
        return np.ascontiguousarray(np.hstack([self.centroids, self.radii[:, None]]), dtype=np.float32)

    @cached_property
    def anchors(self) -> CreatorMatrix:
        """The same creators' anchor embeddings only (learned ones left out; see face_assets.recognition.evidence)."""
        if self.learned is None or not self.learned.any():
            return self
        keep = ~self.learned
        return CreatorMatrix.from_rows(self.embedding_creator_ids[keep], self.embeddings[keep])

    @classmethod
    def from_rows(
        cls,
        creator_ids: Sequence[int],
        embeddings: Sequence[np.ndarray] | np.ndarray,
        learned_video: Sequence[int] | None = None,
    ) -> CreatorMatrix:
        """From (creator_id, embedding[, video a learned embedding comes from, 0: an anchor]) rows in any order."""
        ids = np.asarray(creator_ids, dtype=np.int64)
        matrix = _unit_rows(_as_matrix(embeddings))
        order = np.argsort(ids, kind="stable")
        ids, matrix = ids[order], matrix[order]
        videos = None if learned_video is None else np.asarray(learned_video, dtype=np.int64)[order]
        unique, starts = np.unique(ids, return_index=True)
        if videos is None or not (videos > 0).any():
            return cls(unique, starts.astype(np.int64), matrix)
        return cls(unique, starts.astype(np.int64), matrix, videos > 0, videos)


@dataclass
class TagSummary:
    videos: int = 0
    tags_added: int = 0
    tags_updated: int = 0
    tags_removed: int = 0
    faces_matched: int = 0  # faces whose status became 'matched'
    faces_pending: int = 0  # faces whose status became 'pending'
    faces_unmatched: int = 0  # faces whose status became 'unmatched'
    tagged: list[tuple[int, int, float]] = field(default_factory=list)  # (video, creator, confidence) passing now
    references_learned: int = 0  # faces of strong tags that joined their creator's references
    references_unlearned: int = 0  # learned references whose face no longer backs them


@dataclass
class MatchSummary:
    faces: int = 0  # faces (re-)matched
    proposed: int = 0  # of those, nearest allowed creator at >= match_threshold
    below_threshold: int = 0  # of those, 'unmatched'
    vetoes_applied: int = 0  # (face, creator) pairs skipped because a person rejected them
    creator_embeddings: int = 0
    creators: int = 0
    videos: int = 0
    rows_written: int = 0
    seconds: float = 0.0
    tags: TagSummary = field(default_factory=TagSummary)
    statuses: dict[str, int] = field(default_factory=dict)  # faces per match_status in the affected videos, after

    def as_metadata(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("tags", "statuses")}
        data["statuses"] = dict(sorted(self.statuses.items()))
        data["seconds"] = round(self.seconds, 3)
        t = self.tags
        data.update(
            tags_added=t.tags_added,
            tags_updated=t.tags_updated,
            tags_removed=t.tags_removed,
            faces_matched=t.faces_matched,
            faces_pending=t.faces_pending,
            faces_unmatched=t.faces_unmatched,
            references_learned=t.references_learned,
            references_unlearned=t.references_unlearned,
        )
        return data


# --- the exact matcher ---------------------------------------------------------------------------


def _as_matrix(embeddings) -> np.ndarray:
    if isinstance(embeddings, np.ndarray) and embeddings.ndim == 2:
        return embeddings.astype(np.float32, copy=False)
    rows = [np.asarray(e.to_numpy() if hasattr(e, "to_numpy") else e, dtype=np.float32) for e in embeddings]
    return np.stack(rows) if rows else np.zeros((0, 512), dtype=np.float32)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]  # einsum: ~8x faster than linalg.norm here
    if matrix.dtype == np.float32 and np.all(np.abs(norms - 1) < 1e-6):
        return matrix  # stored embeddings are unit vectors already: no 200 MB copy per 100k faces
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def creator_similarities(faces: np.ndarray, creators: CreatorMatrix) -> np.ndarray:
    """(n, k) cosine similarity of each face to each creator: the max over the creator's embeddings."""
    faces = _unit_rows(_as_matrix(faces))
    if creators.n_embeddings == 0 or faces.shape[0] == 0:
        return np.zeros((faces.shape[0], len(creators.creator_ids)), dtype=np.float32)
    sims = faces @ creators.embeddings.T
    if creators.n_embeddings == len(creators.creator_ids):  # one embedding per creator: nothing to reduce
        return sims
    return np.maximum.reduceat(sims, creators.starts, axis=1)


def nearest_creators(
    faces: np.ndarray,
    creators: CreatorMatrix,
    vetoes: Sequence[Iterable[int]] | None = None,
    masked: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest allowed creator of each face: (creator ids, similarities); creator -1 and -inf when none.

    `vetoes[i]` lists the creators face i must not get. Faces are processed in chunks of PRODUCT_BUDGET cells.
    Ties go to the lower creator id. Every face takes the full product when creators have fewer than
    PRUNE_MIN_EMBEDDINGS embeddings or about one each, else the centroid-bounded search (`_pruned_best`, vetoed
    creators' bounds masked), which gives the same answer. `masked[i]`: embedding columns face i must not match
    (learned from its own video, `CreatorMatrix.own_video_columns`); such faces take the full product.
    """
    faces = _unit_rows(_as_matrix(faces))
    n, k = faces.shape[0], len(creators.creator_ids)
    best_ids = np.full(n, _NO_CREATOR, dtype=np.int64)
    best_sims = np.full(n, -np.inf, dtype=np.float32)
    if n == 0 or k == 0:
        return best_ids, best_sims
    prune = creators.n_embeddings >= max(PRUNE_MIN_EMBEDDINGS, PRUNE_MIN_EMBEDDINGS_PER_CREATOR * k)
    column_creator = creators.embedding_creator_ids
    step = max(1, PRODUCT_BUDGET // max(1, creators.n_embeddings))
    for start in range(0, n, step):
        q = faces[start : start + step]
        vetoed = np.zeros(q.shape[0], dtype=bool)
        if vetoes is not None:
            vetoed = np.fromiter((bool(v) for v in vetoes[start : start + step]), dtype=bool, count=q.shape[0])
        cols = np.zeros(q.shape[0], dtype=np.int64)
        sims = np.full(q.shape[0], -np.inf, dtype=np.float32)
        if masked is not None:
            has_mask = np.fromiter(
                (m is not None and len(m) > 0 for m in masked[start : start + step]), dtype=bool, count=q.shape[0]
            )
            rows = np.flatnonzero(has_mask)
            if rows.size:
                cols[rows], sims[rows] = _full_best(
                    q[rows],
                    creators,
                    None if vetoes is None else [vetoes[start + int(r)] for r in rows],
                    [masked[start + int(r)] for r in rows],
                )
            vetoed &= ~has_mask
        else:
            has_mask = np.zeros(q.shape[0], dtype=bool)
        if vetoed.any():
            rows = np.flatnonzero(vetoed)
            cols[rows], sims[rows] = (_pruned_best if prune else _full_best)(
                q[rows], creators, [vetoes[start + int(r)] for r in rows]
            )  # type: ignore[index]
        rows = np.flatnonzero(~vetoed & ~has_mask)
        if rows.size:
            cols[rows], sims[rows] = (_pruned_best if prune else _full_best)(q[rows], creators)
        best_sims[start : start + step] = sims
        best_ids[start : start + step] = np.where(np.isfinite(sims), column_creator[cols], _NO_CREATOR)
    return best_ids, best_sims


def _full_best(
    q: np.ndarray,
    creators: CreatorMatrix,
    vetoes: Sequence[Iterable[int]] | None = None,
    masked: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(best embedding column, its similarity) per row of q, from the whole product q @ embeddings.T.

    The nearest creator is the creator of the nearest embedding: an argmax over embedding columns, with no
    per-creator reduction (np.maximum.reduceat over columns cost as much as the product itself at 10k columns).
    Columns are sorted by creator, so the first maximum is the lowest creator id. Vetoed cells are -inf.
    """
    sims = q @ creators.embeddings.T
    if vetoes is not None:
        rows, cols = _veto_cells(vetoes, creators)
        sims[rows, cols] = -np.inf
    if masked is not None:
        lens = [len(m) for m in masked]
        if sum(lens):
            sims[
                np.repeat(np.arange(len(masked)), lens), np.concatenate([np.asarray(m, np.int64) for m in masked])
            ] = -np.inf
    idx = sims.argmax(axis=1)
    return idx, sims[np.arange(sims.shape[0]), idx]


def _pruned_best(
    q: np.ndarray, creators: CreatorMatrix, vetoes: Sequence[Iterable[int]] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The same answer as `_full_best`, computing only the products that can change it.

    For a face q and a creator with centroid c (the mean of its embeddings) and radius r (the largest distance of
    an embedding from c), every embedding e of the creator has q.e = q.c + q.(e - c) <= q.c + r (q is a unit
    vector): one product per creator bounds all of its embeddings ([q, 1] @ [c, r] gives the bound directly).
    The creator with the highest bound is the anchor; its embeddings are compared exactly. Every other creator
    whose bound reaches the anchor's best is a candidate, and only candidates' embeddings are compared. Faces near
    one creator (the common case for faces of known people) have no candidate; faces for which the bounds prune
    little (strangers: every creator is about as far) take the full product, as do faces whose candidates' products,
    gathered one by one (PAIR_COST each), would cost more than their row of the full product. Nothing is
    approximated: a creator is skipped only when its bound proves it cannot win (ties included). A vetoed
    creator's bound is -inf: it is never the anchor nor a candidate; a face with every creator vetoed gets -inf.
    """
    n = q.shape[0]
    rows = np.arange(n)
    with_one = np.empty((n, q.shape[1] + 1), dtype=np.float32)
    with_one[:, :-1], with_one[:, -1] = q, 1.0
    bounds = with_one @ creators.bound_matrix.T
    if vetoes is not None:
        veto_rows, veto_creators = _veto_creators(vetoes, creators)
        bounds[veto_rows, veto_creators] = -np.inf
    top = bounds.argmax(axis=1)
    top_bound = bounds[rows, top]
    bounds[rows, top] = -np.inf
    runner_up = bounds.max(axis=1)
    nothing = ~np.isfinite(top_bound)  # every creator vetoed: no answer (the full product would say the same)
    # The anchor's best lies between its centroid similarity (a mean is at most the max) and its bound. A face whose
    # centroid similarity is far below the runner-up's bound (a stranger) almost never settles: it takes the full
    # product at once, without the anchor's products. Only work is decided here, never the answer.
    radius = creators.radii[top]
    hopeful = np.flatnonzero((top_bound - radius * (1 - ANCHOR_HOPE) >= runner_up) & ~nothing)
    cols = np.zeros(n, dtype=np.int64)
    sims = np.full(n, -np.inf, dtype=np.float32)
    _, cols[hopeful], sims[hopeful] = _best_of_pairs(q, hopeful, top[hopeful], creators)
    open_rows = hopeful[sims[hopeful] < runner_up[hopeful]]
    rest = [np.setdiff1d(rows[~nothing], hopeful, assume_unique=True)]
    if open_rows.size:
        candidates = bounds[open_rows] >= sims[open_rows, None]
        counts = np.count_nonzero(candidates, axis=1)
        few = counts * PAIR_COST <= len(creators.creator_ids)  # ~ candidates' embeddings x PAIR_COST <= all
        if few.any():
            pair_rows, pair_creators = np.nonzero(candidates[few])
            got_rows, got_cols, got_sims = _best_of_pairs(q, open_rows[few][pair_rows], pair_creators, creators)
            better = (got_sims > sims[got_rows]) | ((got_sims == sims[got_rows]) & (got_cols < cols[got_rows]))
            cols[got_rows[better]], sims[got_rows[better]] = got_cols[better], got_sims[better]
        rest.append(open_rows[~few])
    full = np.sort(np.concatenate(rest))
    if full.size:
        cols[full], sims[full] = _full_best(
            q[full], creators, None if vetoes is None else [vetoes[int(r)] for r in full]
        )
    return cols, sims


def _best_of_pairs(
    q: np.ndarray, rows: np.ndarray, creator_idx: np.ndarray, creators: CreatorMatrix
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For (row, creator index) pairs sorted by row: per distinct row, the best embedding column over those
    creators' embeddings and its similarity (ties: the lowest column). Returns (rows, columns, similarities)."""
    if rows.size == 0:
        return rows, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    lens = creators.counts[creator_idx]
    pair_row = np.repeat(rows, lens)
    offsets = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    cols = np.repeat(creators.starts[creator_idx], lens) + offsets
    sims = np.einsum("ij,ij->i", q[pair_row], creators.embeddings[cols])
    new_row = np.r_[True, pair_row[1:] != pair_row[:-1]]
    group = np.cumsum(new_row) - 1
    best = np.maximum.reduceat(sims, np.flatnonzero(new_row))
    hits = np.flatnonzero(sims == best[group])
    first = hits[np.r_[True, group[hits][1:] != group[hits][:-1]]]  # columns ascend within a row
    return pair_row[first], cols[first], sims[first]


def _veto_creators(vetoes: Sequence[Iterable[int]], creators: CreatorMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(row, creator index) of the vetoed (face, creator) pairs whose creator has embeddings."""
    rows, idx = [], []
    for i, vetoed in enumerate(vetoes):
        for creator in vetoed or ():
            j = int(np.searchsorted(creators.creator_ids, creator))
            if j < len(creators.creator_ids) and creators.creator_ids[j] == creator:
                rows.append(i)
                idx.append(j)
    return np.asarray(rows, dtype=np.int64), np.asarray(idx, dtype=np.int64)


def _veto_cells(vetoes: Sequence[Iterable[int]], creators: CreatorMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(row, embedding column) cells of the vetoed (face, creator) pairs: every embedding of a vetoed creator."""
    rows, cols = [], []
    ends = creators.ends
    for i, vetoed in enumerate(vetoes):
        for creator in vetoed or ():
            j = int(np.searchsorted(creators.creator_ids, creator))
            if j < len(creators.creator_ids) and creators.creator_ids[j] == creator:
                span = range(int(creators.starts[j]), int(ends[j]))
                rows.extend([i] * len(span))
                cols.extend(span)
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)


# --- the evidence a face carries ---------------------------------------------------------------


def runner_up_and_anchor(
    faces: np.ndarray,
    creators: CreatorMatrix,
    best_ids: np.ndarray,
    vetoes: Sequence[Iterable[int]] | None = None,
    masked: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For faces with a nearest creator `best_ids` (-1: none): the runner-up (the nearest allowed OTHER creator:
    id, similarity; -1 and -inf when none) and the similarity to the best creator's anchor embeddings (NO_ANCHOR when
    it has none). Exact, by the same search as `nearest_creators` with the best creator vetoed as well."""
    faces = _unit_rows(_as_matrix(faces))
    n = faces.shape[0]
    has = best_ids != _NO_CREATOR
    others = [
        ({int(b)} if h else set()) | set((vetoes[i] if vetoes is not None else None) or ())
        for i, (b, h) in enumerate(zip(best_ids.tolist(), has.tolist()))
    ]
    runner_ids, runner_sims = nearest_creators(faces, creators, others, masked)
    anchor = np.full(n, NO_ANCHOR, dtype=np.float32)
    anchors = creators.anchors
    rows = np.flatnonzero(has)
    if anchors is creators:
        anchor[rows] = _similarity_to_creator(faces[rows], creators, best_ids[rows])
    elif rows.size:
        anchor[rows] = _similarity_to_creator(faces[rows], anchors, best_ids[rows])
    return runner_ids, runner_sims, anchor


def _similarity_to_creator(q: np.ndarray, creators: CreatorMatrix, creator_ids: np.ndarray) -> np.ndarray:
    """Per row, the similarity to creator_ids[i] (max over its embeddings); NO_ANCHOR where it has none."""
    out = np.full(q.shape[0], NO_ANCHOR, dtype=np.float32)
    j = np.searchsorted(creators.creator_ids, creator_ids)
    found = j < len(creators.creator_ids)
    found[found] = creators.creator_ids[j[found]] == creator_ids[found]
    rows = np.flatnonzero(found)
    if rows.size:
        got_rows, _, got_sims = _best_of_pairs(q, rows, j[rows], creators)
        out[got_rows] = got_sims
    return out


# --- database ------------------------------------------------------------------------------------


def ensure_schema(conn: psycopg.Connection) -> None:
    """The application schema at this code's version (face_assets.db.schema_upgrade): the matching tables among them."""
    upgrade(conn)


def load_creator_matrix(conn: psycopg.Connection) -> CreatorMatrix:
    """Every creator embedding, as one matrix grouped by creator (binary COPY, parsed by numpy)."""
    ensure_schema(conn)  # the learned-reference columns it reads (callers such as cluster proposals may come first)
    blocks = list(copy_vectors(conn, read_sql("recognition/creator_matrix.sql")))
    if not blocks:
        return CreatorMatrix(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 512), np.float32))
    return CreatorMatrix.from_rows(
        np.concatenate([b[0][0] for b in blocks]),
        np.concatenate([b[1] for b in blocks]),
        np.concatenate([b[0][2] for b in blocks]),
    )


def _selection(statuses: Sequence[str], video_ids: Sequence[int] | None, detection_ids: Sequence[int] | None) -> dict:
    return {"statuses": list(statuses), "video_ids": video_ids, "detection_ids": detection_ids}


def faces_to_match(
    conn: psycopg.Connection,
    statuses: Sequence[str] = UNDECIDED_STATUSES,
    video_ids: Sequence[int] | None = None,
    detection_ids: Sequence[int] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The undecided faces to (re-)match (sql/recognition/detections_to_match.sql), FETCH_CHUNK at a time through
    binary COPY, read ahead in a thread: (ids, video ids, embedding matrix) per chunk. No other statement may run
    on `conn` until the iterator is exhausted or closed (read what the chunks need, e.g. `vetoes_to_match`, before)."""
    blocks = copy_vectors(
        conn,
        read_sql("recognition/detections_to_match.sql"),
        _selection(statuses, video_ids, detection_ids),
        chunk_rows=FETCH_CHUNK,
    )
    for (ids, videos), embeddings in read_ahead(blocks):
        yield ids, videos, embeddings


def vetoes_to_match(
    conn: psycopg.Connection,
    statuses: Sequence[str] = UNDECIDED_STATUSES,
    video_ids: Sequence[int] | None = None,
    detection_ids: Sequence[int] | None = None,
) -> dict[int, set[int]]:
    """The vetoed creators of the faces `faces_to_match` selects with the same arguments: {detection id: creators}."""
    out: dict[int, set[int]] = {}
    for detection_id, creator_id in conn.execute(
        read_sql("recognition/vetoes_to_match.sql"), _selection(statuses, video_ids, detection_ids)
    ):
        out.setdefault(detection_id, set()).add(creator_id)
    return out


def match_detections(
    conn: psycopg.Connection,
    config: RecognitionConfig,
    *,
    video_ids: Iterable[int] | None = None,
    detection_ids: Iterable[int] | None = None,
    statuses: Sequence[str] = UNDECIDED_STATUSES,
) -> MatchSummary:
    """Re-match faces against all creator embeddings (exactly, all at once) and refresh the affected videos' tags.

    The faces: undecided rows (never 'manual'/'rejected'/decided_at set) with a status in `statuses`, of
    `video_ids` and/or `detection_ids` (both None: every such face). Vetoed creators are skipped per face. Then
    `refresh_video_tags` runs for every video of those faces and every video in `video_ids`. One transaction.
    """
    started = time.perf_counter()
    summary = MatchSummary()
    ensure_schema(conn)
    videos = None if video_ids is None else sorted({int(v) for v in video_ids})
    ids_filter = None if detection_ids is None else sorted({int(i) for i in detection_ids})
    with conn.transaction():
        conn.execute(read_sql("recognition/sync_rejections.sql"))
        creators = load_creator_matrix(conn)
        summary.creator_embeddings, summary.creators = creators.n_embeddings, len(creators.creator_ids)

        out_ids: list[np.ndarray] = []
        out_creators: list[np.ndarray] = []
        out_sims: list[np.ndarray] = []
        out_extra: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        touched_videos: set[int] = set(videos or ())
        vetoes = vetoes_to_match(conn, statuses, videos, ids_filter)
        summary.vetoes_applied = sum(len(v) for v in vetoes.values())
        for chunk_ids, chunk_videos, faces in faces_to_match(conn, statuses, videos, ids_filter):
            touched_videos.update(np.unique(chunk_videos).tolist())
            chunk_vetoes = [vetoes.get(int(i), ()) for i in chunk_ids] if vetoes else None
            masked = creators.own_video_columns(chunk_videos)
            best_ids, best_sims = nearest_creators(faces, creators, chunk_vetoes, masked)
            # The evidence rule also reads the runner-up and the anchors' similarity, for proposed faces only.
            proposed_rows = np.flatnonzero((best_ids != _NO_CREATOR) & (best_sims >= config.match_threshold))
            runner_ids = np.zeros(chunk_ids.size, dtype=np.int64)
            runner_sims = np.zeros(chunk_ids.size, dtype=np.float32)
            anchor_sims = np.zeros(chunk_ids.size, dtype=np.float32)
            if proposed_rows.size:
                r_ids, r_sims, a_sims = runner_up_and_anchor(
                    faces[proposed_rows],
                    creators,
                    best_ids[proposed_rows],
                    None if chunk_vetoes is None else [chunk_vetoes[int(r)] for r in proposed_rows],
                    None if masked is None else [masked[int(r)] for r in proposed_rows],
                )
                runner_ids[proposed_rows] = np.where(r_ids == _NO_CREATOR, 0, r_ids)
                runner_sims[proposed_rows] = np.where(np.isfinite(r_sims), r_sims, 0)
                anchor_sims[proposed_rows] = a_sims
            out_extra.append((runner_ids, runner_sims, anchor_sims))
            out_ids.append(chunk_ids)
            out_creators.append(best_ids)
            out_sims.append(best_sims)

        if out_ids:
            ids = np.concatenate(out_ids)
            best_ids = np.concatenate(out_creators)
            best_sims = np.concatenate(out_sims)
            runner_ids = np.concatenate([e[0] for e in out_extra])
            runner_sims = np.concatenate([e[1] for e in out_extra])
            anchor_sims = np.concatenate([e[2] for e in out_extra])
            proposed = (best_ids != _NO_CREATOR) & (best_sims >= config.match_threshold)
            summary.faces = int(ids.size)
            summary.proposed = int(proposed.sum())
            summary.below_threshold = summary.faces - summary.proposed
            # In batches: the results stay numpy arrays (~20 bytes a face); only one batch at a time becomes the
            # Python lists the statement's arrays are made of (a library 100x larger: 10M faces, not 1-2 GB of lists).
            for start in range(0, ids.size, WRITE_BATCH):
                part = slice(start, start + WRITE_BATCH)
                chosen = proposed[part]
                summary.rows_written += conn.execute(
                    read_sql("recognition/write_matches.sql"),
                    {
                        "ids": ids[part].tolist(),
                        "creator_ids": np.where(chosen, best_ids[part], 0).tolist(),
                        "similarities": np.where(chosen, best_sims[part], 0).tolist(),
                        "proposed": chosen.tolist(),
                        "runner_up_creator_ids": np.where(chosen, runner_ids[part], 0).tolist(),
                        "runner_up_similarities": np.where(chosen, runner_sims[part], 0).tolist(),
                        "anchor_similarities": np.where(chosen, anchor_sims[part], 0).tolist(),
                    },
                ).rowcount
        summary.videos = len(touched_videos)
        summary.tags = _refresh(conn, config, sorted(touched_videos))
        if touched_videos:
            summary.statuses = dict(
                conn.execute(
                    "SELECT match_status, count(*) FROM video_face_detections WHERE video_id = ANY(%s::int[]) GROUP BY 1",
                    (sorted(touched_videos),),
                ).fetchall()
            )
    summary.seconds = time.perf_counter() - started
    return summary


def video_evidence(conn: psycopg.Connection, config: RecognitionConfig, video_ids: Iterable[int]) -> list[PairEvidence]:
    """Evidence per (video, creator) for the given videos, as stored now (face_assets.recognition.evidence)."""
    return evidence.video_evidence(conn, config, video_ids)


def refresh_video_tags(conn: psycopg.Connection, config: RecognitionConfig, video_ids: Iterable[int]) -> TagSummary:
    """Recompute the evidence of `video_ids` from the stored matches and bring statuses and auto-tags in step.

    Use it after changing decisions (e.g. the review CLI rejected or confirmed faces): auto-tags whose evidence
    now passes are added, those that no longer pass are removed (unless a person confirmed one of their faces),
    faces of tagged pairs become 'matched', others 'pending'/'unmatched'. Legacy and manual tags are never touched.
    One transaction.
    """
    ensure_schema(conn)
    with conn.transaction():
        return _refresh(conn, config, sorted({int(v) for v in video_ids}))


def _refresh(conn: psycopg.Connection, config: RecognitionConfig, video_ids: list[int]) -> TagSummary:
    summary = TagSummary(videos=len(video_ids))
    if not video_ids:
        return summary
    model = evidence.likelihood_model(conn, config)
    pairs = evidence.video_evidence(conn, config, video_ids, model)
    passing = [e for e in pairs if e.passes]
    keep = passing + [e for e in pairs if e.manual_faces and not e.passes]
    summary.tagged = [(e.video_id, e.creator_id, float(e.best)) for e in passing]

    for (status,) in conn.execute(
        read_sql("recognition/apply_evidence.sql"),
        {
            "video_ids": video_ids,
            "match_threshold": config.match_threshold,
            "tag_videos": [e.video_id for e in passing],
            "tag_creators": [e.creator_id for e in passing],
        },
    ).fetchall():
        if status == "matched":
            summary.faces_matched += 1
        elif status == "pending":
            summary.faces_pending += 1
        else:
            summary.faces_unmatched += 1

    if passing:
        for (inserted,) in conn.execute(
            read_sql("recognition/upsert_auto_tags.sql"),
            {
                "videos": [e.video_id for e in passing],
                "creators": [e.creator_id for e in passing],
                "confidences": [float(e.best) for e in passing],
            },
        ).fetchall():
            if inserted:
                summary.tags_added += 1
            else:
                summary.tags_updated += 1
    summary.tags_removed = len(
        conn.execute(
            read_sql("recognition/remove_auto_tags.sql"),
            {
                "video_ids": video_ids,
                "keep_videos": [e.video_id for e in keep],
                "keep_creators": [e.creator_id for e in keep],
            },
        ).fetchall()
    )
    learned = evidence.learn_references(conn, config, pairs, model, video_ids)
    summary.references_learned, summary.references_unlearned = learned.learned, learned.unlearned
    return summary


def reject_match(
    conn: psycopg.Connection,
    config: RecognitionConfig,
    detection_ids: Iterable[int],
    *,
    creator_id: int | None = None,
    repropose: bool = False,
) -> MatchSummary | TagSummary:
    """A person says faces `detection_ids` are not `creator_id` (default: each face's current creator).

    The veto is recorded in face_match_rejections. Without `repropose` the faces become 'rejected' decisions
    (decided_at = now) and the videos' tags are refreshed. With `repropose` the faces are reopened (pending,
    decided_at NULL) and matched again at once, so each gets its next-best allowed creator, or none.
    """
    ids = sorted({int(i) for i in detection_ids})
    ensure_schema(conn)
    with conn.transaction():
        conn.execute(read_sql("recognition/record_rejections.sql"), {"detection_ids": ids, "creator_id": creator_id})
        if repropose:
            conn.execute(
                "UPDATE video_face_detections SET match_status = 'pending', decided_at = NULL WHERE id = ANY(%s::int[])",
                (ids,),
            )
            return match_detections(conn, config, detection_ids=ids)
        videos = [
            r[0]
            for r in conn.execute(
                "UPDATE video_face_detections SET match_status = 'rejected', decided_at = now(),"
                " matched_creator_id = COALESCE(%s::int, matched_creator_id)"
                " WHERE id = ANY(%s::int[]) RETURNING video_id",
                (creator_id, ids),
            ).fetchall()
        ]
        return _refresh(conn, config, sorted(set(videos)))


# --- measuring similarity distributions ------------------------------------------------------------


@dataclass(frozen=True)
class SimilaritySamples:
    """Same/different similarity samples, for choosing thresholds (see `same_different_similarities`)."""

    same: np.ndarray  # per face: similarity to its nearest true creator (faces of videos with creators)
    different: np.ndarray  # per (face, creator not in the face's video): exact negatives
    same_best: np.ndarray  # per true (video, creator): the best face's similarity
    different_best: np.ndarray  # per (video, creator not in it): the best face's similarity

    def stats(self) -> dict:
        def describe(a: np.ndarray) -> dict:
            if a.size == 0:
                return {"n": 0}
            q = np.percentile(a, [1, 5, 50, 95, 99, 99.9])
            return {
                "n": int(a.size),
                "min": round(float(a.min()), 3),
                "p1": round(float(q[0]), 3),
                "p5": round(float(q[1]), 3),
                "median": round(float(q[2]), 3),
                "p95": round(float(q[3]), 3),
                "p99": round(float(q[4]), 3),
                "p99.9": round(float(q[5]), 3),
                "max": round(float(a.max()), 3),
            }

        return {k: describe(getattr(self, k)) for k in ("same", "different", "same_best", "different_best")}


def same_different_similarities(
    face_video_ids: Sequence[int],
    face_embeddings,
    creator_ids: Sequence[int],
    creator_embeddings,
    truth: Mapping[int, Iterable[int]],
) -> SimilaritySamples:
    """Same-person and different-person similarity samples from faces with video-level ground truth.

    `truth[video_id]` lists the creators really in the video (videos missing from `truth` are skipped). Faces carry
    no identity, only their video, so:
    - `different`: every face against every creator NOT in its video: exact negatives;
    - `same`: every face of a video with true creators, against its nearest true creator. A face of someone else
      in the video (a bystander in a photo) lands here too, at different-person values: read its low tail with
      that in mind;
    - `same_best` / `different_best`: per (video, creator), the best face: exactly what the auto-tag rule sees.
    Similarity to a creator = max over that creator's embeddings.
    """
    creators = CreatorMatrix.from_rows(creator_ids, creator_embeddings)
    vids = np.asarray(face_video_ids, dtype=np.int64)
    sims = creator_similarities(_as_matrix(face_embeddings), creators)  # (n, k)
    column = {int(c): j for j, c in enumerate(creators.creator_ids)}
    same, different, same_best, different_best = [], [], [], []
    for video_id in sorted({int(v) for v in vids}):
        if video_id not in truth:
            continue
        rows = sims[vids == video_id]
        true_cols = [column[int(c)] for c in truth[video_id] if int(c) in column]
        false_mask = np.ones(len(creators.creator_ids), dtype=bool)
        false_mask[true_cols] = False
        different.append(rows[:, false_mask].ravel())
        different_best.append(rows[:, false_mask].max(axis=0) if rows.size else np.zeros(0))
        if true_cols:
            same.append(rows[:, true_cols].max(axis=1))
            same_best.append(rows[:, true_cols].max(axis=0))
    cat = lambda parts: np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)  # noqa: E731
    return SimilaritySamples(cat(same), cat(different), cat(same_best), cat(different_best))


def fixture_similarities(conn: psycopg.Connection, truth: Mapping, *, min_face_size: float = 0.0) -> SimilaritySamples:
    """`same_different_similarities` on the detections and creator embeddings in the database, with the fixture's
    truth.json (names and library-relative paths, mapped to ids through creators.name and videos.file_path).
    Videos without detections are skipped; faces smaller than `min_face_size` px are left out."""
    names = {name: cid for cid, name in conn.execute("SELECT id, name FROM creators")}
    videos: dict[int, list[int]] = {}
    for video_id, path in conn.execute("SELECT id, file_path FROM videos"):
        for rel, info in truth["videos"].items():
            if path.endswith("/" + rel):
                videos[video_id] = [names[c] for c in info["creators"] if c in names]
    with conn.cursor(binary=True) as cur:
        faces = cur.execute(
            "SELECT video_id, embedding FROM video_face_detections"
            " WHERE video_id = ANY(%s) AND LEAST(bbox_width, bbox_height) >= %s ORDER BY id",
            (list(videos), min_face_size),
        ).fetchall()
        known = cur.execute(
            "SELECT creator_id, embedding FROM creator_face_embeddings ORDER BY creator_id, id"
        ).fetchall()
    return same_different_similarities(
        [f[0] for f in faces], [f[1] for f in faces], [k[0] for k in known], [k[1] for k in known], videos
    )


# --- rematch (the nightly job) ---------------------------------------------------------------------


REMATCH_STATE_KEY = "rematch.creator_embeddings"


@dataclass(frozen=True)
class EmbeddingSnapshot:
    """The high-water mark of creator_face_embeddings plus the thresholds that shaped the stored statuses."""

    count: int
    id_sum: int
    max_changed_at: str | None  # ISO timestamp
    match_threshold: float
    auto_tag_threshold: float
    rule: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, value: str | None) -> EmbeddingSnapshot | None:
        if not value:
            return None
        try:
            return cls(**json.loads(value))
        except (TypeError, ValueError):
            return None


def embedding_snapshot(conn: psycopg.Connection, config: RecognitionConfig) -> EmbeddingSnapshot:
    n, id_sum, max_changed_at = conn.execute(read_sql("recognition/embedding_snapshot.sql")).fetchone()
    # Everything the fusion rule reads besides the references: a change re-matches every undecided face.
    model = evidence.likelihood_model(conn, config)
    rule = "|".join(
        str(v)
        for v in (
            config.auto_tag_min_frames,
            config.auto_tag_margin,
            config.auto_tag_max_false_rate,
            config.evidence_frame_correlation,
            getattr(model, "created_at", None) or evidence.describe_model(model),
        )
    )
    return EmbeddingSnapshot(
        int(n),
        int(id_sum),
        None if max_changed_at is None else max_changed_at.isoformat(),
        float(config.match_threshold),
        float(config.auto_tag_threshold),
        rule,
    )


def stored_snapshot(conn: psycopg.Connection) -> EmbeddingSnapshot | None:
    ensure_schema(conn)
    row = conn.execute(read_sql("recognition/state_get.sql"), {"key": REMATCH_STATE_KEY}).fetchone()
    return EmbeddingSnapshot.from_json(row[0] if row else None)


@dataclass
class RematchResult:
    changed: bool
    mode: str  # 'nothing changed' | 'incremental' | 'full'
    reason: str
    embeddings_changed: int = 0  # creator embeddings added or changed since the last run
    faces_screened: int = 0
    match: MatchSummary | None = None

    def as_metadata(self) -> dict:
        data = {
            "changed": self.changed,
            "mode": self.mode,
            "reason": self.reason,
            "embeddings_changed": self.embeddings_changed,
            "faces_screened": self.faces_screened,
        }
        if self.match is not None:
            data.update(self.match.as_metadata())
        return data


def rematch_changed(conn: psycopg.Connection, config: RecognitionConfig) -> RematchResult:
    """Re-match 'pending' and 'unmatched' faces against creator embeddings added or changed since the last call.

    - Nothing changed since the stored snapshot (same rows, same thresholds): nothing is done.
    - Only additions and in-place changes (count and id sum moved exactly by the rows created since the mark):
      incremental. Every pending/unmatched face is screened against just the added/changed embeddings (one matrix
      product); a face is re-matched (exactly, against all embeddings) when a new similarity could beat its current
      one (pending) or reach match_threshold (unmatched), or when it is pending for a creator whose embedding changed.
    - Otherwise (rows deleted, thresholds changed, no snapshot yet): every pending/unmatched face is re-matched.
    Auto-tags follow (refresh_video_tags of the affected videos). The new snapshot is stored on success.
    """
    ensure_schema(conn)
    with conn.transaction():
        conn.execute(read_sql("recognition/lock.sql"), {"name": "face_assets.rematch"})
        previous = stored_snapshot(conn)
        current = embedding_snapshot(conn, config)
        if previous == current:
            return RematchResult(
                False,
                "nothing changed",
                f"no creator embedding added, changed or removed since {current.max_changed_at}",
            )
        result = _rematch(conn, config, previous, current)
        conn.execute(read_sql("recognition/state_set.sql"), {"key": REMATCH_STATE_KEY, "value": current.to_json()})
    return result


def _rematch(conn, config, previous: EmbeddingSnapshot | None, current: EmbeddingSnapshot) -> RematchResult:
    same_config = previous is not None and (previous.match_threshold, previous.auto_tag_threshold, previous.rule) == (
        current.match_threshold,
        current.auto_tag_threshold,
        current.rule,
    )
    if previous is None or previous.max_changed_at is None or not same_config:
        reason = "first run" if previous is None else ("thresholds changed" if not same_config else "no mark")
        return RematchResult(True, "full", reason, match=match_detections(conn, config, statuses=REMATCH_STATUSES))

    with conn.cursor(binary=True) as cur:
        changed = cur.execute(
            read_sql("recognition/embeddings_changed_since.sql"), {"since": previous.max_changed_at}
        ).fetchall()
    added = [r for r in changed if r[3]]
    only_additions = current.count == previous.count + len(added) and current.id_sum == previous.id_sum + sum(
        int(r[0]) for r in added
    )
    if not only_additions:
        return RematchResult(
            True,
            "full",
            "creator embeddings were removed",
            len(changed),
            match=match_detections(conn, config, statuses=REMATCH_STATUSES),
        )
    if not changed:  # e.g. only a timestamp moved: nothing to compare against
        return RematchResult(
            True,
            "incremental",
            "no embedding rows changed",
            0,
            match=match_detections(conn, config, detection_ids=[], statuses=REMATCH_STATUSES),
        )

    fresh = CreatorMatrix.from_rows([r[1] for r in changed], [r[2] for r in changed])
    updated_creators = sorted({int(r[1]) for r in changed if not r[3]})
    candidates: set[int] = set()
    if updated_creators:
        candidates.update(
            r[0]
            for r in conn.execute(read_sql("recognition/pending_of_creators.sql"), {"creator_ids": updated_creators})
        )
    # Status and confidence first: no statement may run on the connection while faces_to_match's COPY is open.
    current = {
        int(i): (status, confidence)
        for i, status, confidence in conn.execute(read_sql("recognition/detections_to_screen.sql"))
    }
    screened = 0
    for ids, _, embeddings in faces_to_match(conn, REMATCH_STATUSES):
        screened += int(ids.size)
        best = creator_similarities(embeddings, fresh).max(axis=1)
        for det_id, sim in zip(ids.tolist(), best.tolist()):
            status, confidence = current.get(det_id, (None, None))
            if status == "unmatched" and sim >= config.match_threshold:
                candidates.add(det_id)
            elif status == "pending" and (confidence is None or sim > float(confidence)):
                candidates.add(det_id)
    summary = match_detections(conn, config, detection_ids=sorted(candidates), statuses=REMATCH_STATUSES)
    return RematchResult(
        True,
        "incremental",
        f"{len(added)} creator embeddings added, {len(changed) - len(added)} changed",
        len(changed),
        screened,
        summary,
    )
