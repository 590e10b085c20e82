"""The whole pipeline from nothing on the fixture library (`face-assets run`'s path), then the notebooks on its data."""

import json
import os
from pathlib import Path

import nbformat
import psycopg
import pytest
from nbclient import NotebookClient

from face_assets_tests.conftest import FIXTURES, LIBRARY, REPO, _create_database, fixture_library_env, require_fixtures

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(pg_server, module_dagster_instance, tmp_path_factory):
    require_fixtures()
    url = _create_database(pg_server, "pipe")
    home = tmp_path_factory.mktemp("pipeline_home")
    with fixture_library_env(url, home):
        from face_assets.cli.runner import run_pipeline

        ok = run_pipeline(module_dagster_instance)
    return ok, url, home


def test_whole_pipeline_tags_right_and_clusters_the_unknown(pipeline, truth):
    from face_assets.cli.evaluation import evaluate

    ok, url, _ = pipeline
    assert ok
    with psycopg.connect(url) as conn:
        result = evaluate(conn, FIXTURES / "truth.json")
        print("\n".join(result.lines()))
        assert sorted(result.creators_embedded) == sorted(truth["creators_with_pictures"])
        assert result.auto_tags and not result.wrong_auto_tags
        # Most creator appearances are tagged; the rest are explained (and queued for review, not wrongly tagged).
        assert len(result.found) >= 8 and all(why for *_, why in result.missed)
        assert result.unknown_clusters and all(len(ids) == 1 for ids in result.unknown_clusters.values())
        assert not result.impure_clusters
        # The three new files were registered and processed; the broken ones were recorded, not processed.
        for name in truth["new_files_not_in_legacy_db"]:
            row = conn.execute(
                "SELECT s.status FROM videos v JOIN video_face_scans s ON s.video_id = v.id WHERE v.file_path = %s",
                (str(LIBRARY / name),),
            ).fetchone()
            assert row == ("processed",), name
        errors = conn.execute("SELECT count(*) FROM library_files WHERE status = 'error'").fetchone()[0]
        assert errors == len(truth["broken_files"])


def _execute(notebook: str, env: dict, tmp_path: Path) -> str:
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_threshold_notebook_measures_and_confirms_the_thresholds(pipeline, tmp_path):
    _, url, _ = pipeline
    out = _execute(
        "thresholds.ipynb", {"DATABASE_URL": url, "FACE_ASSETS_TRUTH": str(FIXTURES / "truth.json")}, tmp_path
    )
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    assert result["model"] == "buffalo_sc"
    assert result["match_threshold"] >= result["suggested_match_threshold"] - 0.1
    assert (tmp_path / "similarity.png").stat().st_size > 1000
    # The shipped calibration (lfw_dev) is shown, and the configured thresholds are the ones it suggests.
    assert result["calibration"]["source"] == "pairs:pairs.txt"
    assert result["calibration"]["match_threshold"] == result["match_threshold"]
    assert (tmp_path / "calibration.png").stat().st_size > 1000


def test_cluster_notebook_draws_the_clusters(pipeline, tmp_path):
    _, url, _ = pipeline
    out = _execute("clusters.ipynb", {"DATABASE_URL": url}, tmp_path)
    assert "open clusters" in out
    summary = out.split("RESULT ", 1)[1]
    assert "'clusters': 0" not in summary
    assert (tmp_path / "clusters.png").stat().st_size > 1000
