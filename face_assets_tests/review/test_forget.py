"""Forgetting a person (face_assets.review.forget) on the fixture library after the whole pipeline (`face-assets run`'s
path: migration, frames, faces, matches, clusters), with the real model buffalo_sc.

The tests run in file order on that one database, as a person would: a creator with every kind of trace (profile
picture, a reference image in their folder, learned references, a confirmed face, a learned reference a person
removed, a face a person said is not them, auto-tags and a legacy tag) is forgotten; then a cluster of an unknown
person (with a cluster merged into it and a face a person took out of it); then everything that could bring them back
runs again: creator_embeddings, a full rematch, a full re-clustering with proposals, and sampling the videos' frames
and detecting and matching their faces again. Nothing of either person is left in any table (face_assets_tests/
review/leftovers.py looks through the catalog, not through a list of tables) or under FACE_ASSETS_HOME, before and
after that.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from face_assets_tests.conftest import (
    FIXTURES,
    _create_database,
    _drop_database,
    fixture_library_env,
    require_fixtures,
)
from face_assets_tests.review.leftovers import (
    leftover_files,
    leftovers,
    snapshot_cluster,
    snapshot_creator,
    table_counts,
)

pytestmark = pytest.mark.slow

CREATOR = "Ariel Sharon"  # auto-tagged in one video, a legacy tag (made by hand) on another
REFERENCE = FIXTURES / "lfw_dev" / "images" / "Ariel_Sharon" / "Ariel_Sharon_0002.jpg"


def connect(url: str) -> psycopg.Connection:
    from face_assets.db.connection import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    return conn


@pytest.fixture(scope="module")
def library(pg_server, module_dagster_instance, tmp_path_factory):
    """(database URL, FACE_ASSETS_HOME, run): the fixture library after the whole pipeline; `run(selection)` runs
    part of it again on the same instance and files."""
    require_fixtures()
    url = _create_database(pg_server, "forget")
    home = tmp_path_factory.mktemp("forget_home")
    from face_assets.cli.runner import run_pipeline

    def run(selection: str | None = None) -> None:
        with fixture_library_env(url, home):
            assert run_pipeline(module_dagster_instance, selection=selection), f"the pipeline failed ({selection})"

    run()
    yield url, home, run
    _drop_database(pg_server, url)


@pytest.fixture(scope="module")
def engine():
    from face_assets.engine.face_engine import FaceEngine

    face_engine = FaceEngine()
    face_engine.load()
    return face_engine


@pytest.fixture(scope="module")
def forgotten() -> dict:
    """The people the tests forgot, for the last test."""
    return {}


def _tags(conn, exclude_creator: int | None = None) -> set[tuple]:
    return set(
        conn.execute(
            "SELECT video_id, creator_id, source FROM video_creators WHERE creator_id IS DISTINCT FROM %s",
            (exclude_creator,),
        ).fetchall()
    )


def test_a_creator_is_forgotten_with_every_trace(library, truth, engine, forgotten):
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.evidence import forget_references
    from face_assets.recognition.matching import reject_match
    from face_assets.review import decisions
    from face_assets.review.forget import forget_creator
    from face_assets.review.recognize import train_creator

    url, home, run = library
    creator = truth["legacy_creator_ids"][CREATOR]
    # A reference image in their folder, embedded by the pipeline's own asset.
    folder = home / "reference" / str(creator)
    folder.mkdir(parents=True)
    shutil.copy(REFERENCE, folder / REFERENCE.name)
    run("key:creator_embeddings")

    with connect(url) as conn:
        config = RecognitionConfig.load(conn)
        kinds = dict(
            conn.execute(
                "SELECT source_type, count(*) FROM creator_face_embeddings WHERE creator_id = %s GROUP BY 1", (creator,)
            ).fetchall()
        )
        assert kinds.keys() == {"profile_picture", "manual", "video_frame"}, kinds
        theirs = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM video_face_detections WHERE matched_creator_id = %s AND match_status = 'matched'"
                " ORDER BY id",
                (creator,),
            )
        ]
        assert len(theirs) >= 3
        # A person confirms one of their faces (a 'detection:<id>' reference), and removes a learned reference
        # (a veto kept by place).
        decisions.confirm(conn, [theirs[0]])
        learned = conn.execute(
            "SELECT id FROM creator_face_embeddings WHERE creator_id = %s AND learned_from IS NOT NULL"
            " AND learned_from <> %s ORDER BY id LIMIT 1",
            (creator, theirs[0]),
        ).fetchone()[0]
        assert forget_references(conn, [learned])
        conn.commit()
        others_tags = _tags(conn, creator)
        # A person says a face of someone else (another creator's, in one of their videos) is not them.
        other = conn.execute(
            "SELECT d.id, d.matched_creator_id FROM video_face_detections d WHERE d.match_status = 'matched'"
            " AND d.matched_creator_id <> %s AND d.video_id IN (SELECT video_id FROM video_face_detections"
            " WHERE matched_creator_id = %s) ORDER BY d.id LIMIT 1",
            (creator, creator),
        ).fetchone()
        assert other is not None, "no other creator's face in their videos"
        reject_match(conn, config, [other[0]], creator_id=creator)
        conn.commit()
        assert conn.execute("SELECT count(*) FROM face_match_rejections WHERE creator_id = %s", (creator,)).fetchone()[
            0
        ]
        tags = set(conn.execute("SELECT video_id, source FROM video_creators WHERE creator_id = %s", (creator,)))
        assert {s for _, s in tags} >= {"legacy", "face_recognition"}, tags

        person = snapshot_creator(conn, creator)
        assert person.face_ids and person.files and person.frames
        assert all(Path(p).is_file() for p in [*person.files, *person.frames])

        # A dry run says what would go and changes nothing.
        before = table_counts(conn)
        preview = forget_creator(conn, creator, home=home, dry_run=True)
        assert preview.dry_run and preview.faces == len(person.face_ids)
        assert preview.files.crops == len([p for p in person.files if "/crops/" in p])
        assert table_counts(conn) == before
        assert all(Path(p).is_file() for p in person.files)

        result = forget_creator(conn, creator, home=home)
        print("\n".join(result.lines()))
        assert result.faces == len(person.face_ids) and result.embeddings >= 4
        assert result.places == result.faces and result.files.frames == len(person.frames)
        assert result.files.references == 1 and result.files.previews > 0
        assert {s for _, s in result.tags_removed} >= {"face_recognition"}
        assert result.legacy_tags_kept == 1

        assert leftovers(conn, person) == []
        assert leftover_files(conn, home, person, engine) == []
        # What stays: the creators row, the legacy tag made by hand, every other creator's tags (one the rejection had
        # cost included), and the face a person said is not them (undecided again, matched again to its creator).
        assert conn.execute("SELECT name FROM creators WHERE id = %s", (creator,)).fetchone() == (CREATOR,)
        assert set(conn.execute("SELECT video_id, source FROM video_creators WHERE creator_id = %s", (creator,))) == {
            (v, s) for v, s in tags if s == "legacy"
        }
        assert _tags(conn, creator) >= others_tags  # without them as a runner-up, others' evidence only grows
        status, matched = conn.execute(
            "SELECT match_status, matched_creator_id FROM video_face_detections WHERE id = %s", (other[0],)
        ).fetchone()
        assert matched == other[1] and status in ("matched", "pending"), (status, matched)

        # Nothing makes a face theirs again.
        face = conn.execute("SELECT id FROM video_face_detections ORDER BY id LIMIT 1").fetchone()[0]
        with pytest.raises(decisions.ReviewError, match="forgotten"):
            decisions.assign(conn, face, creator)
        conn.rollback()
        with pytest.raises(decisions.ReviewError, match="forgotten"):
            train_creator(conn, engine, creator)
        conn.rollback()
        # Forgetting them again finds nothing left.
        again = forget_creator(conn, creator, home=home)
        assert again.forgotten_before is not None and again.faces == 0 and again.embeddings == 0
    forgotten["creator"] = person


def test_a_cluster_is_forgotten_with_every_trace(library, engine, forgotten):
    from face_assets.review import decisions
    from face_assets.review.forget import forget_cluster

    url, home, _ = library
    with connect(url) as conn:
        clusters = conn.execute(
            "SELECT id, size, n_videos FROM face_clusters WHERE status = 'open' ORDER BY size DESC, id"
        ).fetchall()
        assert len(clusters) >= 3
        target = clusters[0][0]
        # A person took a face out of it (someone else) and merged another cluster into it (the same person).
        out = conn.execute(
            "SELECT id FROM video_face_detections WHERE cluster_id = %s ORDER BY id DESC LIMIT 1", (target,)
        ).fetchone()[0]
        decisions.remove_from_cluster(conn, target, [out])
        merged = clusters[-1][0]
        decisions.merge_clusters(conn, target, merged)
        conn.commit()
        keep = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, match_status, matched_creator_id, cluster_id FROM video_face_detections"
                " WHERE cluster_id IS DISTINCT FROM %s",
                (target,),
            )
        }
        person = snapshot_cluster(conn, target)
        person.kept_faces = {out}
        assert person.cluster_ids == {target, merged} and len(person.face_ids) == clusters[0][1] - 1 + clusters[-1][1]

        result = forget_cluster(conn, target, home=home)
        print("\n".join(result.lines()))
        assert result.faces == len(person.face_ids) and sorted(result.clusters_removed) == sorted(person.cluster_ids)
        assert leftovers(conn, person) == []
        assert leftover_files(conn, home, person, engine) == []
        # Every other face is as it was (the one taken out included, no longer excluded from a cluster that is gone).
        after = {
            r[0]: r[1:]
            for r in conn.execute("SELECT id, match_status, matched_creator_id, cluster_id FROM video_face_detections")
        }
        assert after == keep
        assert conn.execute(
            "SELECT cluster_id FROM face_cluster_exclusions WHERE detection_id = %s", (out,)
        ).fetchone() == (None,)

        with pytest.raises(decisions.ReviewNotFound):
            forget_cluster(conn, target, home=home)
        conn.rollback()
        with pytest.raises(decisions.ReviewNotFound):
            forget_cluster(conn, merged, home=home)
        conn.rollback()
    forgotten["cluster"] = person


def test_nothing_brings_them_back(library, engine, forgotten):
    """creator_embeddings, a full rematch, a full re-clustering with its proposals, and the videos' frames, faces and
    matches made again from the video files: neither person comes back."""
    from face_assets.recognition.cluster_proposals import propose
    from face_assets.recognition.clustering import cluster_faces
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.matching import match_detections, rematch_changed

    assert set(forgotten) == {"creator", "cluster"}, "the tests above did not run"
    url, home, run = library
    creator = forgotten["creator"].creator_id
    run("key:creator_embeddings")
    with connect(url) as conn:
        assert (
            conn.execute("SELECT count(*) FROM creator_face_embeddings WHERE creator_id = %s", (creator,)).fetchone()[0]
            == 0
        )
        config = RecognitionConfig.load(conn)
        match_detections(conn, config)
        rematch_changed(conn, config)
        cluster_faces(conn, full=True)
        propose(conn)
        conn.commit()
        for person in forgotten.values():
            assert leftovers(conn, person) == []
    run("key:sampled_frames or key:face_detections or key:face_matches")
    run("key:face_clusters")
    with connect(url) as conn:
        for person in forgotten.values():
            assert leftovers(conn, person) == []
            # The previews are made again, from frames the person was painted out of.
            assert leftover_files(conn, home, person, engine, previews_gone=False) == []
            # No face is stored again where theirs were.
            for video, _, timestamp, (x, y, w, h) in person.places:
                near = conn.execute(
                    "SELECT count(*) FROM video_face_detections WHERE video_id = %s"
                    " AND abs(frame_timestamp - %s) <= 0.05 AND bbox_x < %s AND bbox_x + bbox_width > %s"
                    " AND bbox_y < %s AND bbox_y + bbox_height > %s",
                    (video, timestamp, x + w / 2, x + w / 2, y + h / 2, y + h / 2),
                ).fetchone()[0]
                assert near == 0, (video, timestamp)
        assert (
            conn.execute(
                "SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %s", (creator,)
            ).fetchone()[0]
            == 0
        )


def test_detections_and_frames_honour_the_places_of_forgotten_faces(migrated_db, tmp_path, monkeypatch):
    """Without the pipeline (seed.py's faces): once a cluster is forgotten, writing its video's faces again drops the
    one found where a forgotten face was (and its crop), and sampling its frames again paints that place out."""
    from types import SimpleNamespace

    import numpy as np

    from face_assets.defs.faces.assets import KeptFace, _write_detections
    from face_assets.review.forget import REDACT_GREY, forget_cluster, redact_forgotten
    from face_assets_tests.web.seed import seed, unit

    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path))
    data = seed(migrated_db)
    cluster = data.clusters[0]
    with connect(migrated_db) as conn:
        video, frame_index, timestamp, *box = conn.execute(
            "SELECT video_id, frame_index, frame_timestamp, bbox_x, bbox_y, bbox_width, bbox_height"
            " FROM video_face_detections WHERE cluster_id = %s ORDER BY id LIMIT 1",
            (cluster,),
        ).fetchone()
        assert conn.execute(
            "SELECT count(DISTINCT video_id) = 1 AND bool_and(cluster_id = %s) FROM video_face_detections"
            " WHERE video_id = %s",
            (cluster, video),
        ).fetchone()[0], "the cluster's video holds only its faces"
        forget_cluster(conn, cluster, home=tmp_path)

        rng = np.random.default_rng(3)
        again, elsewhere = tmp_path / "again.jpg", tmp_path / "elsewhere.jpg"
        for path in (again, elsewhere):
            path.write_bytes(b"crop")
        x, y, w, h = box
        faces = [
            KeptFace(frame_index, timestamp, (x + 2, y + 1, w, h), (x + 2, y + 1, x + w, y + h), 0.9, unit(rng)),
            KeptFace(frame_index, timestamp, (300.0, 300.0, 80.0, 80.0), (300.0, 300.0, 380.0, 380.0), 0.9, unit(rng)),
        ]
        scan = {
            "frames": 1,
            "faces": 2,
            "model": "buffalo_sc",
            "provider": "CPUExecutionProvider",
            "seconds_per_frame": 0.1,
        }
        inserted, _carried, _dropped = _write_detections(conn, video, faces, [again, elsewhere], scan)
        assert inserted == 1 and not again.exists() and elsewhere.exists()
        assert conn.execute(
            "SELECT bbox_x, faces FROM video_face_detections JOIN video_face_scans USING (video_id) WHERE video_id = %s",
            (video,),
        ).fetchall() == [(300.0, 1)]

        frame = SimpleNamespace(timestamp_seconds=timestamp + 0.01, image=np.full((400, 400, 3), 255, np.uint8))
        later = SimpleNamespace(timestamp_seconds=timestamp + 1.0, image=np.full((400, 400, 3), 255, np.uint8))
        assert redact_forgotten(conn, video, [frame, later]) == 1
        assert (frame.image[int(y + h / 2), int(x + w / 2)] == REDACT_GREY).all()
        assert (frame.image[390, 390] == 255).all() and (later.image == 255).all()
