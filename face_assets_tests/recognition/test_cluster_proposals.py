"""Clusters that find their creators (face_assets.recognition.cluster_proposals): "is this X?" and merge proposals,
from the same calibrated evidence as the auto-tag rule; on real PostgreSQL with synthetic unit vectors."""

import numpy as np

from face_assets.recognition.cluster_proposals import open_proposals, propose
from face_assets.recognition.matching import ensure_schema
from face_assets_tests.recognition.test_matching import (
    CONFIG,
    add_embedding,
    add_face,
    at_similarity,
    connect,
    setup_schema,
    unit,
)


def test_a_cluster_near_a_creator_is_proposed_and_one_person_in_two_clusters_merged(fresh_db):
    setup_schema(fresh_db, creators=2, videos=6)
    rng = np.random.default_rng(3)
    c1, c2, z = unit(rng, 3)
    with connect(fresh_db) as conn:
        ensure_schema(conn)
        add_embedding(conn, 1, c1, "profile_picture", "/pics/1.jpg")
        add_embedding(conn, 2, c2, "profile_picture", "/pics/2.jpg")
        for cid in (1, 2, 3, 4):
            conn.execute("INSERT INTO face_clusters (id, status) VALUES (%s, 'open')", (cid,))

        def member(cluster, video, vector):
            i = add_face(conn, video, 0, vector, status="unmatched")
            conn.execute("UPDATE video_face_detections SET cluster_id = %s WHERE id = %s", (cluster, i))
            return i

        # Cluster 1: creator 1 seen in 4 videos, each face just under match_threshold (0.29): together, "is this 1?"
        for video in (1, 2, 3, 4):
            member(1, video, at_similarity(rng, c1, 0.29))
        # Clusters 2 and 3: one stranger split in two (faces ~0.7 to each other), far from every creator.
        for video in (1, 2, 3):
            member(2, video, at_similarity(rng, z, 0.85, c1, c2))
        for video in (4, 5, 6):
            member(3, video, at_similarity(rng, z, 0.85, c1, c2))
        # Cluster 4: near creator 2, but a person said one of its faces is not creator 2: never proposed.
        vetoed = [member(4, video, at_similarity(rng, c2, 0.29)) for video in (1, 2, 3, 4)]
        conn.execute(
            "INSERT INTO face_match_rejections (detection_id, video_id, frame_index, bbox_x, bbox_y,"
            " bbox_width, bbox_height, creator_id) SELECT id, video_id, frame_index, bbox_x, bbox_y,"
            " bbox_width, bbox_height, 2 FROM video_face_detections WHERE id = %s",
            (vetoed[0],),
        )
        summary = propose(conn, CONFIG)
        got = {(kind, cluster, creator, other) for _, kind, cluster, creator, other, _ in open_proposals(conn)}
        assert got == {("creator", 1, 1, 0), ("merge", 2, 0, 3)}, summary
        # A person's "no" stays: a rejected proposal is not made again.
        conn.execute("UPDATE cluster_proposals SET status = 'rejected' WHERE kind = 'merge'")
        propose(conn, CONFIG)
        assert {p[1] for p in open_proposals(conn)} == {"creator"}
