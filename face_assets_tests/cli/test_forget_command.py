"""`face-assets forget creator|cluster ID` on real PostgreSQL (the migrated fixture database with the review app's
seeded faces, face_assets_tests/web/seed.py), run through face_assets.cli.main with DATABASE_URL set, as a person
would run it: a dry run, a refusal without --yes where nobody can answer, the forget itself, and clear errors."""

from __future__ import annotations

import psycopg
import pytest

from face_assets.cli.main import main
from face_assets_tests.web.seed import seed


@pytest.fixture
def seeded(migrated_db, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", migrated_db)
    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    return migrated_db, seed(migrated_db)


def forget(capsys, *args) -> tuple[int, str]:
    code = main(["forget", *map(str, args)])
    return code, capsys.readouterr().out


def counts(url: str, creator_id: int, cluster_id: int) -> tuple[int, int, int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM video_face_detections WHERE matched_creator_id = %(c)s),"
            " (SELECT count(*) FROM creator_face_embeddings WHERE creator_id = %(c)s),"
            " (SELECT count(*) FROM video_face_detections WHERE cluster_id = %(k)s),"
            " (SELECT count(*) FROM face_clusters WHERE id = %(k)s)",
            {"c": creator_id, "k": cluster_id},
        ).fetchone()


def test_forget_a_creator_and_a_cluster_from_the_command_line(seeded, capsys):
    url, data = seeded
    alpha, cluster = data.creators["Api Alpha"], data.clusters[0]
    before = counts(url, alpha, cluster)
    assert before[0] > 0 and before[1] == 1 and before[2] > 0 and before[3] == 1

    code, out = forget(capsys, "creator", alpha, "--dry-run")
    assert code == 0 and f"would forget creator 'Api Alpha' ({alpha}): {before[0]} face(s)" in out, out
    assert counts(url, alpha, cluster) == before

    code, out = forget(capsys, "creator", alpha)  # no terminal to ask on: refused, nothing deleted
    assert code == 2 and "nothing deleted" in out and "--yes" in out, out
    assert counts(url, alpha, cluster) == before

    code, out = forget(capsys, "creator", alpha, "--yes")
    assert code == 0, out
    assert f"forgot creator 'Api Alpha' ({alpha}): {before[0]} face(s)" in out and "tombstone" in out, out
    assert counts(url, alpha, cluster)[:2] == (0, 0)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM forgotten_creators WHERE creator_id = %s", (alpha,)).fetchone() == (
            1,
        )

    code, out = forget(capsys, "cluster", cluster, "--yes")
    assert code == 0 and f"forgot cluster {cluster}: {before[2]} face(s)" in out, out
    assert counts(url, alpha, cluster)[2:] == (0, 0)

    # A review decision naming the forgotten creator is refused, in one line.
    face = data.by_video[data.videos[1]][0]
    code = main(["review", "assign", str(face), str(alpha)])
    out = capsys.readouterr().out
    assert code == 2 and "was forgotten" in out, out


def test_unknown_and_bad_ids_say_so(seeded, capsys):
    _url, data = seeded
    code, out = forget(capsys, "creator", 999999, "--yes")
    assert code == 2 and "no creator with id 999999" in out
    code, out = forget(capsys, "cluster", 999999, "--yes")
    assert code == 2 and "no cluster with id 999999" in out
    with pytest.raises(SystemExit) as exc:
        main(["forget", "creator", "abc"])
    assert exc.value.code == 2
    capsys.readouterr()
    # A named cluster is a creator: forget the creator.
    code = main(["review", "cluster", "name", str(data.clusters[1]), "Somebody Named"])
    assert code == 0
    capsys.readouterr()
    code, out = forget(capsys, "cluster", data.clusters[1], "--yes")
    assert code == 2 and "forget the creator" in out, out
