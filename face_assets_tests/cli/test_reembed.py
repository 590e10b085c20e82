"""`face-assets reembed --model NAME` through face_assets.cli.main on the fixture library: the whole pipeline with
buffalo_sc, decisions of every kind, part of the change staged and then resumed by the command, the switch, and
everything checked afterwards: each face and creator re-embedded by the new model, every decision kept, the new model
recorded, the old one refused, the progress in Dagster (the `reembedded_faces` partitions).

The new model is test_model_record.second_pack: buffalo_sc with its embedding rotated by a fixed random rotation R,
so each new embedding must be the old one times R (the same face, aligned the same way), while the old and new
embeddings of a face are unrelated (cosine near 0).
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from face_assets.cli.main import main
from face_assets.db.instance import REPO_DAGSTER_YAML
from face_assets_tests.conftest import _create_database, _drop_database, fixture_library_env, require_fixtures
from face_assets_tests.recognition.test_model_record import fixture_model, recorded, rotation, second_pack

pytestmark = pytest.mark.slow


def connect(url: str) -> psycopg.Connection:
    from face_assets.db.connection import register_vector

    conn = psycopg.connect(url)
    register_vector(conn)
    return conn


@pytest.fixture(scope="module")
def library(pg_server, module_dagster_instance, tmp_path_factory):
    """The fixture library through the whole pipeline with buffalo_sc (`face-assets run`'s path)."""
    require_fixtures()
    url = _create_database(pg_server, "reembed")
    home = tmp_path_factory.mktemp("reembed_home")
    with fixture_library_env(url, home):
        from face_assets.cli.runner import run_pipeline

        assert run_pipeline(module_dagster_instance)
    yield url, home
    _drop_database(pg_server, url)


def make_decisions(url: str) -> None:
    """One decision of every kind a person makes: confirm, reject, assign, name, merge, ignore, remove from a cluster,
    remove a learned reference."""
    from face_assets.recognition.evidence import forget_references
    from face_assets.review import decisions as review

    with connect(url) as conn:
        matched = [r[0] for r in conn.execute("SELECT id FROM video_face_detections WHERE match_status = 'matched'")]
        unmatched = conn.execute(
            "SELECT id FROM video_face_detections WHERE match_status = 'unmatched' AND cluster_id IS NULL"
        ).fetchall()
        clusters = [r[0] for r in conn.execute("SELECT id FROM face_clusters WHERE status = 'open' ORDER BY size DESC")]
        creator = conn.execute("SELECT min(id) FROM creators").fetchone()[0]
        assert len(matched) >= 3 and unmatched and len(clusters) >= 4, "the fixture library changed"
        review.confirm(conn, [matched[0]])
        review.reject(conn, [matched[1]])
        review.assign(conn, unmatched[0][0], creator)
        review.name_cluster(conn, clusters[0], "Stranger One")
        review.merge_clusters(conn, clusters[1], clusters[2])
        review.ignore_cluster(conn, clusters[3])
        if len(clusters) > 4:
            face = conn.execute("SELECT min(id) FROM video_face_detections WHERE cluster_id = %s", (clusters[4],))
            review.remove_from_cluster(conn, clusters[4], [face.fetchone()[0]])
        learned = conn.execute("SELECT min(id) FROM creator_face_embeddings WHERE learned_from IS NOT NULL").fetchone()
        assert forget_references(conn, [learned[0]]), "no learned reference left to remove"
        conn.commit()


DECISIONS = {
    "decided_faces": "SELECT id, video_id, frame_index, match_status, matched_creator_id, decided_at"
    " FROM video_face_detections WHERE decided_at IS NOT NULL OR match_status IN ('manual', 'rejected')",
    "face_places": "SELECT id, video_id, frame_index, bbox_x, bbox_y, bbox_width, bbox_height, crop_path"
    " FROM video_face_detections",
    "clusters_decided": "SELECT id, status, creator_id, merged_into, size FROM face_clusters"
    " WHERE status IN ('named', 'merged', 'ignored')",
    "faces_of_decided_clusters": "SELECT d.id, d.cluster_id FROM video_face_detections d"
    " JOIN face_clusters c ON c.id = d.cluster_id WHERE c.status IN ('named', 'merged', 'ignored')",
    "match_vetoes": "SELECT detection_id, video_id, frame_index, creator_id FROM face_match_rejections",
    "reference_vetoes": "SELECT detection_id, video_id, frame_index, creator_id FROM learned_reference_vetoes",
    "links": "SELECT detection_id, link_group FROM face_cluster_links",
    "exclusions": "SELECT detection_id, cluster_id FROM face_cluster_exclusions",
    "manual_tags": "SELECT video_id, creator_id FROM video_creators WHERE source = 'manual'",
    "known_faces_from_videos": "SELECT id, creator_id, source_path FROM creator_face_embeddings"
    " WHERE source_type = 'video_frame' AND source_path LIKE 'detection:%%'",
}


def decisions(url: str) -> dict[str, set]:
    with psycopg.connect(url) as conn:
        return {name: set(conn.execute(query).fetchall()) for name, query in DECISIONS.items()}


def embeddings(url: str, query: str) -> dict:
    with connect(url) as conn:
        return {r[0]: np.asarray(r[1].to_numpy(), np.float32) for r in conn.execute(query)}


FACES = "SELECT id, embedding FROM video_face_detections"
PICTURES = "SELECT source_path, embedding FROM creator_face_embeddings WHERE source_type <> 'video_frame'"
KNOWN = (
    "SELECT e.id, e.embedding FROM creator_face_embeddings e JOIN video_face_detections d"
    " ON d.id = substring(e.source_path FROM ':([0-9]+)$')::int WHERE e.source_type = 'video_frame'"
)


def test_reembed_switches_the_database_over_and_keeps_every_decision(library, pg_server, tmp_path, monkeypatch, capsys):
    from face_assets.cli import preflight
    from face_assets.defs.faces.reembed import REEMBEDDED_FACES, target_engine
    from face_assets.defs.faces.resources import FaceEngineResource
    from face_assets.recognition import calibration_measure
    from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, claim_model, recorded_model
    from face_assets.recognition.reembed import (
        pending_change,
        refresh_after_switch,
        stage_videos,
        start_change,
        switch_model,
    )

    url, home = library
    make_decisions(url)
    kept = decisions(url)
    assert all(kept.values()), {k for k, v in kept.items() if not v}
    old_faces, old_pictures = embeddings(url, FACES), embeddings(url, PICTURES)
    assert old_faces and len(old_pictures) == 10

    pack = second_pack(tmp_path)
    new_model = ModelIdentity.of(str(pack))
    # The command's own Dagster instance (DAGSTER_HOME, storage of its own), as a person runs it.
    storage = _create_database(pg_server, "dg")
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text(REPO_DAGSTER_YAML.read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("FACE_ASSETS_DAGSTER_DATABASE_URL", storage)
    try:
        with fixture_library_env(url, home) as env:
            # The small fixture library has few decisions: the bar for applying a library calibration is lowered, so
            # that the re-calibration of the new model is seen to happen.
            env.setattr(calibration_measure, "MIN_LIBRARY_GENUINE", 1)
            env.setattr(calibration_measure, "MIN_LIBRARY_IMPOSTOR", 1)

            # An interrupted change: started, two videos staged (in one transaction, as the switch stages what
            # appeared at the last moment).
            with connect(url) as conn:
                change, resumed = start_change(conn, new_model)
                assert not resumed
                first = [r[0] for r in conn.execute("SELECT DISTINCT video_id FROM video_face_detections ORDER BY 1")]
                first = first[:2]
                engine = target_engine(FaceEngineResource(), change)
                with conn.transaction():
                    staged = stage_videos(conn, engine, change, first, commit=False)
                conn.commit()
                assert all(s.faces and s.error is None for s in staged)
                faces_of_first = conn.execute(
                    "SELECT count(*) FROM video_face_detections WHERE video_id = ANY(%s)", (first,)
                ).fetchone()[0]
                assert conn.execute("SELECT count(*) FROM face_embeddings_next").fetchone()[0] == faces_of_first
            # Meanwhile the database is still buffalo_sc's, for every entry point, and the command says where it is.
            assert preflight.check_same_model(url) == []
            capsys.readouterr()
            assert main(["reembed"]) == 0
            status = capsys.readouterr().out
            assert status.startswith("the database's embeddings come from buffalo_sc (version ")
            assert f"a change to {new_model.describe()} is in progress since " in status
            assert f"({faces_of_first} of " in status and "`--cancel` gives it up" in status

            # The same command again resumes it.
            capsys.readouterr()
            assert main(["reembed", "--model", str(pack)]) == 0
            out = capsys.readouterr().out
            with psycopg.connect(url) as conn:
                total = conn.execute("SELECT count(*) FROM video_face_detections").fetchone()[0]
                videos = [r[0] for r in conn.execute("SELECT DISTINCT video_id FROM video_face_detections")]
                calibration = conn.execute(
                    "SELECT value FROM face_recognition_config WHERE key = 'buffalo_sc_rot.calibration'"
                ).fetchone()
            assert f"resuming the change from buffalo_sc (version {fixture_model().fingerprint[:12]})" in out
            assert (
                f"faces: {faces_of_first} of {total} embedded by the new model, {len(videos) - 2} video(s) to go" in out
            )
            assert (
                "switched from buffalo_sc" in out
                and f"faces: {total} re-embedded (landmarks: {total} from the frame" in out
            )
            assert "calibration from the library's decisions applied" in out and calibration is not None
            assert "FACE_ASSETS_MODEL=buffalo_sc_rot FACE_ASSETS_MODEL_ROOT=" in out

            # Every face and picture embedded by the new model: the old embedding times R, the same face.
            r = rotation()
            new_faces, new_pictures = embeddings(url, FACES), embeddings(url, PICTURES)
            assert new_faces.keys() == old_faces.keys() and new_pictures.keys() == old_pictures.keys()
            for old, new in [(old_faces, new_faces), (old_pictures, new_pictures)]:
                same = np.array([float((old[k] @ r) @ new[k]) for k in old])
                unrelated = np.array([float(old[k] @ new[k]) for k in old])
                # Exactly the old embedding rotated, but for the few faces the pipeline found on a frame before
                # saving it as JPEG (timeline frames): re-embedded from the saved frame, still clearly the same face.
                assert np.median(same) > 0.9999 and same.min() > 0.95, sorted(same)[:5]
                assert np.abs(unrelated).max() < 0.5
            for key, vector in embeddings(url, KNOWN).items():  # confirmed and learned faces: their face's new one
                assert any(np.allclose(vector, f, atol=1e-6) for f in new_faces.values()), key

            # Every decision kept, the new model recorded, nothing left over.
            assert decisions(url) == kept
            with psycopg.connect(url) as conn:
                now = recorded_model(conn)
                assert (now.name, now.fingerprint, now.source) == ("buffalo_sc_rot", new_model.fingerprint, "reembed")
                assert pending_change(conn) is None
                assert conn.execute("SELECT count(*) FROM face_embeddings_next").fetchone()[0] == 0
                fingerprints = {
                    r[0].split("|")[0]
                    for r in conn.execute(
                        "SELECT source_fingerprint FROM creator_face_embeddings WHERE source_type = 'profile_picture'"
                    )
                }
                assert fingerprints == {"buffalo_sc_rot"}
                with pytest.raises(ModelMismatch), conn.transaction():  # a late writer of the old model
                    claim_model(conn, fixture_model())

            # buffalo_sc is refused now, buffalo_sc_rot is the one.
            assert "come from model buffalo_sc_rot" in preflight.check_same_model(url)[0]
            env.setenv("FACE_ASSETS_MODEL", str(pack))
            assert preflight.check_same_model(url) == []

            # Progress was visible in Dagster: a materialized partition of reembedded_faces per video with faces.
            from dagster import DagsterInstance

            with DagsterInstance.get() as instance:
                done = set(instance.get_materialized_partitions(REEMBEDDED_FACES))
            assert {str(v) for v in videos} - {str(v) for v in first} <= done

            # Nothing left to do.
            assert main(["reembed", "--model", str(pack)]) == 0
            assert "already: nothing to do" in capsys.readouterr().out

            # And back to buffalo_sc, with nothing staged before the switch: it embeds every face itself. The
            # embeddings are buffalo_sc's again, the decisions still the same.
            with connect(url) as conn:
                change, _ = start_change(conn, fixture_model())
                summary = switch_model(conn, target_engine(FaceEngineResource(), change), change)
                refresh_after_switch(conn, change.name)
            assert summary.faces == summary.faces_embedded_at_switch == total
            assert (summary.previous.name, summary.model.name) == ("buffalo_sc_rot", "buffalo_sc")
            back = embeddings(url, FACES)
            again = np.array([float(old_faces[k] @ back[k]) for k in old_faces])
            assert np.median(again) > 0.9999 and again.min() > 0.95
            assert decisions(url) == kept
            assert recorded(url).fingerprint == fixture_model().fingerprint
    finally:
        _drop_database(pg_server, storage)
