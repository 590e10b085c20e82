"""`rematch_schedule` evaluated with build_schedule_context and `rematch_job` run in process, on real PostgreSQL."""

import numpy as np
import pytest
from dagster import DefaultScheduleStatus, RunRequest, build_schedule_context

from face_assets.defs.faces.schedules import rematch_cron, rematch_job, rematch_schedule
from face_assets.defs.resources import PostgresResource
from face_assets_tests.recognition.test_matching import (
    add_embedding,
    add_face,
    at_similarity,
    connect,
    face,
    setup_schema,
    tags,
    unit,
)

DEFAULT_REMATCH_CRON = "0 3 * * *"


@pytest.fixture
def db(fresh_db):
    setup_schema(fresh_db, creators=4, videos=2)
    return fresh_db


@pytest.fixture(scope="module")
def instance(module_dagster_instance):
    """One real Dagster instance on PostgreSQL storage, shared by this module's tests."""
    return module_dagster_instance


def evaluate(instance, url):
    context = build_schedule_context(instance=instance, resources={"database": PostgresResource(url=url)})
    return rematch_schedule.evaluate_tick(context)


def run_job(instance, url) -> dict:
    result = rematch_job.execute_in_process(instance=instance, resources={"database": PostgresResource(url=url)})
    assert result.success
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    metadata = {k: v.value for k, v in output.step_output_data.metadata.items()}
    assert metadata == result.output_for_node("rematch_faces")  # the value is the metadata
    return metadata


def test_schedule_definition():
    assert rematch_schedule.cron_schedule == rematch_cron() == DEFAULT_REMATCH_CRON == "0 3 * * *"
    assert rematch_schedule.default_status == DefaultScheduleStatus.RUNNING
    assert rematch_schedule.job_name == "rematch_job"


def test_cron_from_the_environment(monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_REMATCH_CRON", "30 1 * * 0")
    assert rematch_cron() == "30 1 * * 0"
    monkeypatch.setenv("FACE_ASSETS_REMATCH_CRON", "  ")
    assert rematch_cron() == DEFAULT_REMATCH_CRON


def test_nothing_changed_says_so(db, instance):
    rng = np.random.default_rng(7)
    c = unit(rng, 2)
    with connect(db) as conn:
        add_embedding(conn, 1, c[0])
        # 0.31: pending, not a tag (LLR ~4.3 under buffalo_sc's calibration, the target with one creator ln(100) = 4.6;
        # a tag would learn the face as a new reference: a change the next tick re-matches)
        add_face(conn, 1, 0, at_similarity(rng, c[0], 0.31))
    first = evaluate(instance, db)
    assert len(first.run_requests) == 1 and isinstance(first.run_requests[0], RunRequest)
    assert run_job(instance, db)["mode"] == "full"  # no mark yet: everything pending/unmatched

    tick = evaluate(instance, db)
    assert not tick.run_requests and "no creator embedding added, changed or removed" in tick.skip_message
    again = run_job(instance, db)  # a manual launch when nothing changed
    assert again["changed"] is False and again["mode"] == "nothing changed"
    assert "no creator embedding added, changed or removed" in again["reason"]


def test_a_new_creator_embedding_promotes_pending_faces(db, instance):
    rng = np.random.default_rng(8)
    c = unit(rng, 4)
    with connect(db) as conn:
        add_embedding(conn, 1, c[0])
        # Creator 2 has no embedding yet: their faces in video 1 (two frames) are unmatched; a face of creator 1 in
        # video 2 is pending (0.31: one weak face, not enough evidence for a tag).
        unknown = [add_face(conn, 1, frame, at_similarity(rng, c[1], 0.6)) for frame in range(2)]
        weak = add_face(conn, 2, 0, at_similarity(rng, c[0], 0.31))
        conn.commit()
    assert run_job(instance, db)["mode"] == "full"
    with connect(db) as conn:
        assert {face(conn, i)[:2] for i in unknown} == {("unmatched", None)}
        assert face(conn, weak)[:2] == ("pending", 1)

        add_embedding(conn, 2, c[1], "profile_picture", "/pics/two.jpg")  # a new profile picture
        add_embedding(conn, 1, at_similarity(rng, c[0], 0.9), "manual", "/ref/1/b.jpg")  # more of creator 1
        conn.commit()
    tick = evaluate(instance, db)
    assert len(tick.run_requests) == 1
    metadata = run_job(instance, db)
    assert metadata["changed"] is True and metadata["mode"] == "incremental"
    assert metadata["embeddings_changed"] == 2 and metadata["faces_screened"] == 3
    with connect(db) as conn:
        assert {face(conn, i)[:2] for i in unknown} == {("matched", 2)}
        assert tags(conn, 1) == {(1, 2, "face_recognition", 0.6)}
        assert face(conn, weak)[:2] == ("pending", 1)  # re-screened against creator 1's new image, still weak
    assert metadata["tags_added"] == 1

    with connect(db) as conn:  # a removed embedding: no incremental shortcut, everything pending/unmatched again
        conn.execute("DELETE FROM creator_face_embeddings WHERE source_path = '/ref/1/b.jpg'")
    removed = run_job(instance, db)
    assert removed["mode"] == "full" and "removed" in removed["reason"]
    assert run_job(instance, db)["changed"] is False


def test_decided_faces_are_not_rematched(db, instance):
    rng = np.random.default_rng(9)
    c = unit(rng, 2)
    with connect(db) as conn:
        decided = add_face(conn, 1, 0, at_similarity(rng, c[1], 0.8), status="unmatched", decided=True)
        rejected = add_face(conn, 1, 1, at_similarity(rng, c[1], 0.8), status="rejected", creator_id=3, decided=True)
        conn.commit()
        before = {i: face(conn, i) for i in (decided, rejected)}
    run_job(instance, db)
    with connect(db) as conn:
        add_embedding(conn, 2, c[1])
    run_job(instance, db)
    with connect(db) as conn:
        assert {i: face(conn, i) for i in before} == before
