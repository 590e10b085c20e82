"""Faces, creators and clusters for the review app's tests, in a migrated fixture database.

Embeddings are made to a chosen cosine similarity with a creator's embedding, then matched by the real matching
step (face_assets.recognition.matching.match_detections), so statuses and proposals are what the pipeline gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg

DIM = 512


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def near(base: np.ndarray, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at exactly `similarity` (cosine) from unit vector `base`."""
    other = rng.standard_normal(DIM)
    other -= other.dot(base) * base
    other /= np.linalg.norm(other)
    v = similarity * base.astype(np.float64) + np.sqrt(1 - similarity**2) * other
    return (v / np.linalg.norm(v)).astype(np.float32)


def near_two(first: np.ndarray, s1: float, second: np.ndarray, s2: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at similarity `s1` from `first` and `s2` from `second` (a face nearly as like a runner-up)."""
    b1, b2 = first.astype(np.float64), second.astype(np.float64)
    u2 = b2 - b2.dot(b1) * b1
    u2 /= np.linalg.norm(u2)
    t = (s2 - s1 * b1.dot(b2)) / u2.dot(b2)
    other = rng.standard_normal(DIM)
    other -= other.dot(b1) * b1 + other.dot(u2) * u2
    other /= np.linalg.norm(other)
    v = s1 * b1 + t * u2 + np.sqrt(1 - s1**2 - t**2) * other
    return (v / np.linalg.norm(v)).astype(np.float32)


@dataclass
class Seeded:
    creators: dict[str, int]  # name -> id
    videos: list[int]
    pending: list[int] = field(default_factory=list)  # detection ids proposed for review
    by_video: dict[int, list[int]] = field(default_factory=dict)
    clusters: list[int] = field(default_factory=list)
    cluster_faces: dict[int, list[int]] = field(default_factory=dict)


def connect(url: str) -> psycopg.Connection:
    from pgvector.psycopg import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    conn.commit()
    return conn


def seed(
    url: str,
    *,
    videos: int = 5,
    faces_per_video: int = 5,
    clusters: int = 3,
    cluster_size: int = 4,
    crops_dir: Path | None = None,
    rng_seed: int = 7,
) -> Seeded:
    """`videos` videos with `faces_per_video` faces each near creator 'Api Alpha' or 'Api Beta' (similarity
    0.33-0.37, with 'Api Gamma' 0.02 behind: proposed for review, below auto-tagging), and `clusters` clusters of unknown faces."""
    from face_assets.recognition.clustering import ensure_schema as ensure_cluster_schema
    from face_assets.recognition.clustering import update_cluster_stats
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.matching import ensure_schema, match_detections

    rng = np.random.default_rng(rng_seed)
    with connect(url) as conn:
        ensure_schema(conn)
        ensure_cluster_schema(conn)
        video_ids = [r[0] for r in conn.execute("SELECT id FROM videos ORDER BY id LIMIT %s", (videos + clusters,))]
        creators: dict[str, int] = {}
        bases: dict[int, np.ndarray] = {}
        for name in ("Api Alpha", "Api Beta", "Api Gamma"):
            cid = conn.execute("INSERT INTO creators (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
            creators[name] = cid
            bases[cid] = unit(rng)
            conn.execute(
                "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path, quality_score)"
                " VALUES (%s, %s, 'manual', %s, 0.9)",
                (cid, bases[cid], f"/nonexistent/{cid}.jpg"),
            )
        out = Seeded(creators, video_ids[:videos])
        crop = None
        if crops_dir is not None:
            from PIL import Image

            crops_dir.mkdir(parents=True, exist_ok=True)
            crop = crops_dir / "face.jpg"
            Image.new("RGB", (160, 160), (200, 150, 120)).save(crop, "JPEG")
        alpha, beta = creators["Api Alpha"], creators["Api Beta"]
        for n, vid in enumerate(video_ids[:videos]):
            target = alpha if n % 2 == 0 else beta
            for i in range(faces_per_video):
                # Nearly as like Api Gamma (the runner-up): proposed, never strong enough to auto-tag.
                sim = 0.33 + 0.01 * ((n * faces_per_video + i) % 5)
                emb = near_two(bases[target], sim, bases[creators["Api Gamma"]], sim - 0.02, rng)
                fid = conn.execute(
                    "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x,"
                    " bbox_y, bbox_width, bbox_height, quality_score, crop_path) VALUES"
                    " (%s, %s, %s, %s, 10, 20, 100, 120, 0.9, %s) RETURNING id",
                    (vid, 1.5 * i, i, emb, str(crop) if crop and i == 0 else None),
                ).fetchone()[0]
                out.by_video.setdefault(vid, []).append(fid)
        for c in range(clusters):
            vid = video_ids[videos + c] if videos + c < len(video_ids) else video_ids[0]
            person = unit(rng)
            cluster_id = conn.execute("INSERT INTO face_clusters (status) VALUES ('open') RETURNING id").fetchone()[0]
            ids = []
            for i in range(cluster_size + c):  # different sizes: largest first is a real order
                emb = near(person, 0.8, rng)
                ids.append(
                    conn.execute(
                        "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x,"
                        " bbox_y, bbox_width, bbox_height, quality_score, cluster_id) VALUES"
                        " (%s, %s, %s, %s, 5, 5, 90, 90, 0.8, %s) RETURNING id",
                        (vid, 2.0 * i, 100 + i, emb, cluster_id),
                    ).fetchone()[0]
                )
            out.clusters.append(cluster_id)
            out.cluster_faces[cluster_id] = ids
        conn.commit()
        config = RecognitionConfig.load(conn)
        match_detections(conn, config)
        update_cluster_stats(conn, out.clusters, out.clusters)
        conn.commit()
        out.pending = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM video_face_detections WHERE match_status = 'pending' AND matched_creator_id IS NOT NULL"
                " ORDER BY id"
            )
        ]
    return out
