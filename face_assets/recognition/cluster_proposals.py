"""Clusters that find their creators: review items "is cluster A creator X?" and "are clusters A and B one person?".

A cluster is many faces of one unknown person, each below match_threshold for every creator on its own. Their
evidence together can still point at a creator (a profile picture far from how the person looks on video): the
same calibrated per-face LLRs and the same fusion as a video's (face_assets.recognition.evidence: runner-up margin,
best face per frame, correlated faces counted as at most 1/rho independent looks) give a cluster's evidence for its
nearest creator. It is proposed when that evidence beats the 1:N search, ln(N creators): then the creator is more
likely than not at a prior of one creator in N (a question worth a person's glance, not a tag). Merges likewise: a
face of A against the faces of B, fused over A's faces and the other way round (the weaker direction counts), with
ln(M open clusters) for the M - 1 other clusters each face could have been compared with. Candidate pairs are
each cluster's nearest clusters by centroid (MERGE_CANDIDATES), so the work is linear in the clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import psycopg

from face_assets.db.schema_upgrade import upgrade
from face_assets.db.sql_files import read_sql
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.evidence import face_llr, fuse, likelihood_model
from face_assets.recognition.matching import creator_similarities, load_creator_matrix
from face_assets.recognition.vector_copy import copy_vectors

MERGE_CANDIDATES = 3  # nearest clusters by centroid examined per cluster


@dataclass
class ProposalSummary:
    creator: list[tuple[int, int, float]] = field(default_factory=list)  # (cluster, creator, evidence)
    merge: list[tuple[int, int, float]] = field(default_factory=list)  # (cluster, other cluster, evidence)
    written: int = 0


def propose(conn: psycopg.Connection, config: RecognitionConfig | None = None) -> ProposalSummary:
    """Compute and store this run's cluster proposals (sql/clusters/creator_proposals.sql). Run after clustering,
    in its transaction or any other; the caller commits."""
    config = config or RecognitionConfig.load(conn)
    upgrade(conn)
    model = likelihood_model(conn, config)
    summary = ProposalSummary()
    blocks = list(copy_vectors(conn, read_sql("clusters/proposal_members.sql")))
    if not blocks:
        _write(conn, summary)
        return summary
    clusters = np.concatenate([b[0][0] for b in blocks])
    videos = np.concatenate([b[0][2] for b in blocks])
    frames = np.concatenate([b[0][3] for b in blocks])
    faces = np.concatenate([b[1] for b in blocks])
    faces = faces / np.maximum(np.linalg.norm(faces, axis=1, keepdims=True), 1e-12)
    ids, starts = np.unique(clusters, return_index=True)
    ends = np.append(starts[1:], clusters.size)
    units = [(int(v), int(f)) for v, f in zip(videos, frames)]
    rho = config.evidence_frame_correlation

    creators = load_creator_matrix(conn).anchors
    k = len(creators.creator_ids)
    if k:
        sims = creator_similarities(faces, creators)  # (n, k)
        target = math.log(max(k, 2))
        for cid, a, b in zip(ids.tolist(), starts.tolist(), ends.tolist()):
            part = sims[a:b]
            best = int(np.argmax(part.max(axis=0)))
            others = np.delete(part, best, axis=1)
            runner = others.max(axis=1) if others.shape[1] else np.full(b - a, np.nan)
            value = fuse(units[a:b], face_llr(model, part[:, best], runner), rho)
            if value >= target:
                summary.creator.append((cid, int(creators.creator_ids[best]), float(value)))

    m = len(ids)
    if m >= 2:
        centroids = np.add.reduceat(faces, starts, axis=0)
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        near = centroids @ centroids.T
        np.fill_diagonal(near, -np.inf)
        target = math.log(m)
        seen = set()
        for i in range(m):
            for j in np.argsort(-near[i])[:MERGE_CANDIDATES].tolist():
                pair = (min(i, j), max(i, j))
                if pair in seen:
                    continue
                seen.add(pair)
                (ai, bi), (aj, bj) = (starts[pair[0]], ends[pair[0]]), (starts[pair[1]], ends[pair[1]])
                cross = faces[ai:bi] @ faces[aj:bj].T
                one = fuse(units[ai:bi], face_llr(model, cross.max(axis=1)), rho)
                two = fuse(units[aj:bj], face_llr(model, cross.max(axis=0)), rho)
                value = min(one, two)
                if value >= target:
                    summary.merge.append((int(ids[pair[0]]), int(ids[pair[1]]), float(value)))
    _write(conn, summary)
    return summary


def _write(conn: psycopg.Connection, summary: ProposalSummary) -> None:
    rows = [("creator", c, x, 0, e) for c, x, e in summary.creator] + [
        ("merge", a, 0, b, e) for a, b, e in summary.merge
    ]
    summary.written = len(
        conn.execute(
            read_sql("clusters/creator_proposals.sql"),
            {
                "kinds": [r[0] for r in rows],
                "cluster_ids": [r[1] for r in rows],
                "creator_ids": [r[2] for r in rows],
                "other_ids": [r[3] for r in rows],
                "evidence": [r[4] for r in rows],
            },
        ).fetchall()
    )


def open_proposals(conn: psycopg.Connection) -> list[tuple]:
    """(id, kind, cluster, creator, other cluster, evidence) of the open proposals, strongest first."""
    if conn.execute("SELECT to_regclass('cluster_proposals')").fetchone()[0] is None:
        return []
    return conn.execute(
        "SELECT id, kind, cluster_id, creator_id, other_cluster_id, evidence FROM cluster_proposals"
        " WHERE status = 'open' ORDER BY evidence DESC"
    ).fetchall()
