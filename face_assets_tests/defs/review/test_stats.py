"""`face_recognition_stats` on the migrated fixture database with a few known rows added."""

import numpy as np
import psycopg
from dagster import materialize

from face_assets.defs.resources import PostgresResource
from face_assets.defs.review.assets import face_recognition_stats
from face_assets.review.stats import SECTIONS, recognition_stats


def test_stats_count_what_recognition_found_and_decided(migrated_db, truth):
    rng = np.random.default_rng(0)
    videos = sorted(truth["legacy_video_ids"].values())
    powell, chavez = truth["legacy_creator_ids"]["Colin Powell"], truth["legacy_creator_ids"]["Hugo Chavez"]
    with psycopg.connect(migrated_db) as conn:
        from face_assets.db.connection import register_vector

        register_vector(conn)
        n_videos = conn.execute("SELECT count(*) FROM videos").fetchone()[0]
        n_available = conn.execute("SELECT count(*) FROM videos WHERE is_available").fetchone()[0]
        legacy_videos = conn.execute("SELECT count(DISTINCT video_id) FROM video_creators").fetchone()[0]
        legacy_tags = conn.execute("SELECT count(*) FROM video_creators").fetchone()[0]
        untagged = conn.execute(
            "SELECT min(id) FROM videos WHERE id NOT IN (SELECT video_id FROM video_creators) AND id = ANY(%s)",
            (videos,),
        ).fetchone()[0]
        tagged = conn.execute("SELECT min(video_id) FROM video_creators").fetchone()[0]
        conn.execute(
            "INSERT INTO video_face_scans (video_id, status, frames, faces) VALUES"
            " (%s, 'processed', 5, 7), (%s, 'processed', 5, 0), (%s, 'failed', 0, 0)",
            videos[:3],
        )

        def add(status, creator=None, cluster=None):
            vector = rng.standard_normal(512).astype(np.float32)
            return conn.execute(
                "INSERT INTO video_face_detections (video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
                " bbox_width, bbox_height, match_status, matched_creator_id, cluster_id)"
                " VALUES (%s, 0, 0, %s, 0, 0, 100, 100, %s, %s, %s) RETURNING id",
                (videos[0], vector / np.linalg.norm(vector), status, creator, cluster),
            ).fetchone()[0]

        clusters = [
            conn.execute("INSERT INTO face_clusters (status) VALUES (%s) RETURNING id", (s,)).fetchone()[0]
            for s in ("open", "open", "named", "merged", "dissolved")
        ]
        for status, creator, cluster in [
            ("pending", None, None),
            ("pending", powell, None),
            ("matched", powell, None),
            ("unmatched", None, clusters[0]),
            ("unmatched", None, clusters[0]),
            ("unmatched", None, clusters[1]),
            ("rejected", chavez, None),
            ("manual", chavez, clusters[2]),
        ]:
            add(status, creator, cluster)
        conn.execute(
            "INSERT INTO video_creators (video_id, creator_id, source, confidence) VALUES"
            " (%s, %s, 'face_recognition', 0.7)",
            (untagged, powell),
        )
        conn.execute(
            "INSERT INTO video_creators (video_id, creator_id, source) VALUES (%s, %s, 'manual')"
            " ON CONFLICT DO NOTHING",
            (tagged, chavez),
        )
        for creator, kind, path in [
            (powell, "profile_picture", "/p.jpg"),
            (powell, "video_frame", "detection:1"),
            (chavez, "video_frame", "detection:2"),
        ]:
            vector = rng.standard_normal(512).astype(np.float32)
            conn.execute(
                "INSERT INTO creator_face_embeddings (creator_id, embedding, source_type, source_path)"
                " VALUES (%s, %s, %s, %s)",
                (creator, vector, kind, path),
            )
        conn.commit()
        stats = recognition_stats(conn)
        conn_available_scanned = conn.execute(
            "SELECT count(*) FROM videos WHERE is_available AND id = ANY(%s)", (list(videos[:3]),)
        ).fetchone()[0]

    assert stats == stats | {
        "detections": 8,
        "detections_pending": 2,
        "matches_awaiting_review": 1,
        "detections_matched": 1,
        "detections_unmatched": 3,
        "detections_rejected": 1,
        "detections_manual": 1,
        "videos": n_videos,
        "videos_processed": 2,
        "videos_with_faces": 1,
        "videos_failed": 1,
        "videos_available": n_available,
        "videos_not_processed": n_available - conn_available_scanned,
        "videos_with_creators_before": legacy_videos,
        "videos_with_creators_after": legacy_videos + 1,
        "legacy_tags": legacy_tags,
        "auto_tags": 1,
        "manual_tags": 1,
        "clusters_open": 2,
        "faces_in_open_clusters": 3,
        "clusters_named": 1,
        "clusters_merged": 1,
        "clusters_dissolved": 1,
        "creators_with_embeddings": 2,
        "creator_embeddings": 3,
        "embeddings_from_video_frames": 2,
    }

    result = materialize([face_recognition_stats], resources={"database": PostgresResource(url=migrated_db)})
    assert result.success
    metadata = result.asset_materializations_for_node("face_recognition_stats")[0].metadata
    assert {k: metadata[k].value for k in stats} == stats
    table = metadata["summary"].value
    assert len(table.splitlines()) == len(SECTIONS) + 2
    assert f"| videos with creators after (any source) | {legacy_videos + 1:,} |" in table
