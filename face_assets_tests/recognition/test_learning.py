"""Creators that learn without drifting (face_assets.recognition.evidence.learn_references), on real PostgreSQL with
synthetic unit vectors of known similarity."""

import dataclasses

import numpy as np

from face_assets.recognition.evidence import forget_references
from face_assets.recognition.matching import match_detections, reject_match
from face_assets_tests.recognition.test_matching import (
    CONFIG,
    add_embedding,
    add_face,
    at_similarity,
    connect,
    face,
    setup_schema,
    tags,
    unit,
)

LEARNING = dataclasses.replace(CONFIG, learn_max_per_creator=3)


def learned(conn, creator_id=None) -> dict[int, int]:
    """{learned_from face: creator} of the learned references."""
    return dict(
        conn.execute(
            "SELECT learned_from, creator_id FROM creator_face_embeddings WHERE learned_from IS NOT NULL"
            + ("" if creator_id is None else f" AND creator_id = {int(creator_id)}")
        ).fetchall()
    )


def test_strong_tags_teach_capped_diverse_references(fresh_db):
    setup_schema(fresh_db, creators=2, videos=2)
    rng = np.random.default_rng(11)
    c = unit(rng, 2)
    with connect(fresh_db) as conn:
        add_embedding(conn, 1, c[0], "profile_picture", "/pics/1.jpg")
        add_embedding(conn, 2, c[1], "profile_picture", "/pics/2.jpg")
        base = at_similarity(rng, c[0], 0.6)
        # Video 1: creator 1 in 6 frames; frames 0-2 the same shot (near-identical faces), 3-5 other ones.
        same_shot = [base + 0.02 * at_similarity(rng, c[0], 0.0) for _ in range(3)]
        others = [at_similarity(rng, c[0], 0.6) for _ in range(3)]
        ids = [add_face(conn, 1, f, v / np.linalg.norm(v)) for f, v in enumerate(same_shot + others)]
        conn.commit()
        summary = match_detections(conn, LEARNING, video_ids=[1])
        assert summary.tags.references_learned == 3
        got = learned(conn)
        assert set(got.values()) == {1} and len(got) == 3
        assert len(set(got) & set(ids[:3])) <= 1  # one of the same shot at most: the others add new looks
        assert conn.execute(
            "SELECT DISTINCT source_type FROM creator_face_embeddings WHERE learned_from IS NOT NULL"
        ).fetchall() == [("video_frame",)]
        # Idempotent, and the cap holds.
        again = match_detections(conn, LEARNING, video_ids=[1])
        assert again.tags.references_learned == 0 and learned(conn) == got
        # A person's decisions: a rejected face's reference goes and never comes back; a removed reference is
        # vetoed for good.
        rejected = next(iter(got))
        reject_match(conn, LEARNING, [rejected])
        assert rejected not in learned(conn)
        removed = conn.execute(
            "SELECT id, learned_from FROM creator_face_embeddings WHERE learned_from IS NOT NULL ORDER BY id LIMIT 1"
        ).fetchone()
        assert forget_references(conn, [removed[0]]) == [(removed[0], 1)]
        for _ in range(2):
            match_detections(conn, LEARNING, video_ids=[1])
            assert rejected not in learned(conn) and removed[1] not in learned(conn)
        assert len(learned(conn)) == 3  # the cap is filled from the faces still allowed


def test_one_wrong_auto_tag_does_not_cascade(fresh_db):
    """A stranger X who looks like creator 1 in one video is tagged (wrongly) and learned; X's other videos, where
    he is far from creator 1's picture but close to his own learned faces, are not tagged through them."""
    setup_schema(fresh_db, creators=2, videos=3)
    rng = np.random.default_rng(5)
    c = unit(rng, 6)
    c1, c2, u, v, w, _z = c
    with connect(fresh_db) as conn:
        add_embedding(conn, 1, c1, "profile_picture", "/pics/1.jpg")
        add_embedding(conn, 2, c2, "profile_picture", "/pics/2.jpg")
        x = 0.5 * c1 + np.sqrt(0.75) * u  # X as seen in video 2: 0.5 to creator 1's picture
        for frame in range(3):
            add_face(conn, 2, frame, x)
        conn.commit()
        match_detections(conn, LEARNING, video_ids=[2])
        assert {t[:2] for t in tags(conn)} == {(2, 1)}  # the wrong tag (a person will fix it later)
        assert set(learned(conn).values()) == {1}  # and X's faces were learned as creator 1

        # Video 3: X again, ~0.1 to creator 1's picture but 0.65 to his learned faces from video 2.
        other = -0.5 * c1 + np.sqrt(0.75) * (0.6 * v + 0.8 * w)
        y = 0.8 * x + 0.6 * other
        y /= np.linalg.norm(y)
        assert float(y @ c1) < 0.15 and float(y @ x) > 0.6
        ids = [add_face(conn, 3, frame, y) for frame in range(3)]
        conn.commit()
        match_detections(conn, LEARNING, video_ids=[3])
        assert not [t for t in tags(conn) if t[0] == 3]  # no cascade
        assert {face(conn, i)[:2] for i in ids} == {("pending", 1)}  # for a person to look at, at most
        assert not [f for f, creator in learned(conn).items() if f in ids]  # and nothing learned from it

        # Learned references also never count for the faces of their own video: video 2's evidence is its own.
        own = conn.execute("SELECT max(match_confidence) FROM video_face_detections WHERE video_id = 2").fetchone()[0]
        assert own < 0.51


# --- references from pictures ----------------------------------------------------------------------


def test_a_tight_picture_is_retried_and_references_average_the_mirror_image():
    """A profile picture cropped tight to the face has no face at the default detector size; FaceEngine's
    detect_pictures finds it (border, other sizes). A reference is the same from a picture and from its mirror."""
    import cv2
    import pytest

    from face_assets.engine.face_engine import FaceEngine
    from face_assets.recognition.embeddings import picture_embeddings
    from face_assets_tests.conftest import LIBRARY, require_fixtures

    require_fixtures()
    engine = FaceEngine()
    image = cv2.imread(str(LIBRARY / "profile-pictures" / "colin_powell.jpg"))
    whole = engine.detect([image])[0]
    assert len(whole) == 1
    x1, y1, x2, y2 = (int(v) for v in whole[0].bbox)
    tight = image[max(0, y1) : y2, max(0, x1) : x2]
    tight = cv2.resize(tight, (600, round(600 * tight.shape[0] / tight.shape[1])))
    assert engine.detect([tight]) == [[]]  # no face at the default size...
    retried = engine.detect_pictures([tight])[0]  # ...found when tried again
    assert len(retried) == 1 and float(retried[0].embedding @ whole[0].embedding) > 0.8

    (score, ref), (_, mirrored_ref) = picture_embeddings(engine, [image, cv2.flip(image, 1)])
    assert score > 0.5 and abs(float(np.linalg.norm(ref)) - 1) < 1e-5
    assert float(ref @ mirrored_ref) == pytest.approx(1.0, abs=0.02)  # same person, whichever way the head turns
    assert picture_embeddings(engine, [np.full((200, 200, 3), 127, np.uint8)]) == [None]
