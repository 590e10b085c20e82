"""Fixtures of the clustering tests (test_clustering, test_incremental_clustering)."""

import psycopg
import pytest


@pytest.fixture(scope="module")
def video_ids(truth) -> list[int]:
    """The fixture library's video ids, the videos synthetic faces are put in."""
    return sorted(truth["legacy_video_ids"].values())


# test_matching (and the modules importing from it) define a `db` of their own, which takes precedence there.
@pytest.fixture
def db(module_migrated_db):
    """The migrated fixture database, with no faces, clusters or clustering settings left by an earlier test of the
    module."""
    with psycopg.connect(module_migrated_db) as conn:
        conn.execute("TRUNCATE video_face_detections, face_clusters, video_frames CASCADE")
        conn.execute("DELETE FROM face_recognition_config WHERE key LIKE '%%cluster_%%'")
    return module_migrated_db
