"""Row `recognition.scale` of stage `recognition` (issue 20, part 5): the auto-tag rule and the clustering at library
scale, on lfw_dev's people.

The library (seeded; `plan_scale`): every lfw_dev identity with at least `min_creator_photos` photos is a creator
(its first photo the profile picture, its other photos its faces in videos: a reference plus at least two
appearances), every other identity a stranger (never a creator; those with two photos recur in two videos, the
clustering's job). A person's video photos are split into appearances of one or two photos (two photos: two frames
of one video), a stranger's photos into one-photo appearances in different videos; the appearances are dealt into
videos of 2-4 people, at most one appearance of a person per video, each photo in its own frame of 5. No video is
decoded: a video is the set of its faces.

Embeddings, made once and cached (benchmarks/.data): each video face is the face its photo is labelled with (its
box holds the centre) as `face-assets calibrate` embeds it (`embed_photos`, the calibration cache under FACE_ASSETS_HOME, shared with
`calibrate_accuracy`); each creator's reference is its profile picture through `picture_embeddings` (the code of the
`creator_embeddings` asset: the best face, averaged with the mirror image's). The photos are not degraded as video
frames are (stage `recognition` does that on rendered videos): this row asks whether the false-tag bound holds with
hundreds of creators and thousands of strangers, not how much blur costs.

Then the project's code on a scratch database with the real schema (face_assets.db.schema_upgrade.upgrade): faces
COPYed into video_face_detections ('pending'), the references into creator_face_embeddings ('profile_picture'),
`match_detections` per run of 50 videos in video order (as `face_matches` runs a backfill: matching, evidence,
auto-tags, learned references, which later runs see), then `cluster_faces` once. Measured: auto-tag precision and
creator recall with no review, proposals for review, clusters (purity per face: each face is one known person).

Bias, as for stage `recognition`: the shipped buffalo_sc calibration was measured on lfw_dev, these same photos.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import DATA_DIR, FIXTURES, MODEL_NAME, StageResult, model_root, say, scratch_database

ROW = "recognition.scale"
FRAMES = 5
RUN_VIDEOS = 50  # videos per face_matches run (MAX_PARTITIONS_PER_RUN)
TARGETS = {"precision": 0.99, "recall": 0.95, "impure_clusters": 0, "creators": 300, "videos": 1000}
SCALE_FULL = {"min_creator_photos": 3, "people_per_video": [2, 3, 4], "p": [0.35, 0.4, 0.25], "seed": 20}
# Quick (the smoke test): the same plan over the first identities only (alphabetically), a few seconds to embed.
SCALE_QUICK = {**SCALE_FULL, "identities": 40}


def _identities(images: Path, limit: int | None) -> dict[str, list[Path]]:
    out = {}
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        photos = sorted(folder.glob(f"{folder.name}_*.jpg"))
        if photos:
            out[folder.name] = photos
        if limit and len(out) >= limit:
            break
    return out


def plan_scale(cfg: dict[str, Any], images: Path) -> dict[str, Any]:
    """Creators, strangers, and the videos: per video a list of (person, [(frame, photo path), ...])."""
    rng = np.random.default_rng(cfg["seed"])
    people = _identities(images, cfg.get("identities"))
    creators = sorted(n for n, p in people.items() if len(p) >= cfg["min_creator_photos"])
    strangers = sorted(n for n in people if n not in set(creators))
    appearances: list[tuple[str, list[Path]]] = []
    for name in creators:
        photos = list(people[name][1:])
        while photos:
            take = 1 if len(photos) == 1 else int(rng.integers(1, 3))
            appearances.append((name, photos[:take]))
            photos = photos[take:]
    for name in strangers:
        appearances += [(name, [photo]) for photo in people[name]]
    order = rng.permutation(len(appearances))
    pending = [appearances[i] for i in order]
    videos: list[list[tuple[str, list[tuple[int, Path]]]]] = []
    while pending:
        size = int(rng.choice(cfg["people_per_video"], p=cfg["p"]))
        video: list[tuple[str, list[tuple[int, Path]]]] = []
        rest = []
        for name, photos in pending:
            if len(video) < size and name not in {n for n, _ in video}:
                frames = sorted(rng.choice(FRAMES, size=len(photos), replace=False).tolist())
                video.append((name, list(zip(frames, photos))))
            else:
                rest.append((name, photos))
        videos.append(video)
        pending = rest
    return {
        "creators": creators,
        "strangers": strangers,
        "pictures": {n: people[n][0] for n in creators},
        "videos": videos,
    }


def _cache_folder(cfg: dict[str, Any], engine) -> Path:
    from face_assets.recognition.calibration_measure import engine_fingerprint

    key = json.dumps({"cfg": cfg, "engine": engine_fingerprint(engine)}, sort_keys=True)
    return DATA_DIR / f"recognition_scale_{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def embeddings(cfg: dict[str, Any], plan: dict[str, Any]) -> tuple[dict[Path, np.ndarray], dict[str, np.ndarray]]:
    """(video face embedding per photo, reference embedding per creator); photos without a face left out."""
    from face_assets.engine.face_engine import FaceEngine
    from face_assets.recognition.calibration_measure import cache_dir, embed_photos
    from face_assets.recognition.embeddings import picture_embeddings

    engine = FaceEngine(model_name=MODEL_NAME, model_root=model_root(), providers="CPUExecutionProvider")
    photos = sorted({p for video in plan["videos"] for _, faces in video for _, p in faces})
    started = time.perf_counter()
    emb, has_face, stats = embed_photos(engine, photos, cache=cache_dir(engine))
    say(
        f"[{ROW}] {len(photos)} video photos embedded ({stats['embedded_now']} now) in {time.perf_counter() - started:.0f} s"
    )
    faces = {p: emb[k] for k, p in enumerate(photos) if has_face[k]}

    folder = _cache_folder(cfg, engine)
    cached = folder / "references.npz"
    if cached.exists():
        data = np.load(cached)
        refs = {str(n): data["embeddings"][k] for k, n in enumerate(data["names"]) if data["found"][k]}
    else:
        import cv2

        names = plan["creators"]
        found, vectors = [], []
        for start in range(0, len(names), 32):
            chunk = names[start : start + 32]
            for result in picture_embeddings(engine, [cv2.imread(str(plan["pictures"][n])) for n in chunk]):
                found.append(result is not None)
                vectors.append(result[1] if result is not None else np.zeros(512, np.float32))
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / "references.partial.npz"
        np.savez(partial, names=np.array(names), embeddings=np.stack(vectors), found=np.array(found))
        partial.rename(cached)
        refs = {n: v for n, v, f in zip(names, vectors, found) if f}
    return faces, refs


def load_library(conn, plan: dict[str, Any], faces: dict[Path, np.ndarray], refs: dict[str, np.ndarray]):
    """Rows in the scratch database; returns (creator id per name, truth (video, creator) pairs, person per face id)."""
    from face_assets.db.connection import register_vector
    from face_assets.db.schema_upgrade import upgrade

    upgrade(conn)
    conn.commit()
    register_vector(conn)  # the extension exists now
    conn.execute("INSERT INTO watched_directories (id, path) VALUES (1, '/srv/scale')")
    creator_ids = {name: k + 1 for k, name in enumerate(plan["creators"])}
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO creators (id, name) VALUES (%s, %s)",
            [(i, n.replace("_", " ")) for n, i in creator_ids.items()],
        )
        cur.executemany(
            "INSERT INTO videos (id, file_path, file_name, directory_id, file_size_bytes, duration_seconds)"
            " VALUES (%s, %s, %s, 1, 1000000, 60)",
            [(v + 1, f"/srv/scale/v{v + 1:05d}.mp4", f"v{v + 1:05d}.mp4") for v in range(len(plan["videos"]))],
        )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY creator_face_embeddings (creator_id, embedding, source_type, source_path, quality_score)"
            " FROM STDIN WITH (FORMAT BINARY)"
        ) as cp,
    ):
        cp.set_types(["int4", "vector", "text", "text", "float4"])
        for name, vector in refs.items():
            cp.write_row((creator_ids[name], vector, "profile_picture", str(plan["pictures"][name]), 0.9))
    truth: set[tuple[int, int]] = set()
    person: dict[int, str] = {}
    face_id = 0
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY video_face_detections (id, video_id, frame_timestamp, frame_index, embedding, bbox_x, bbox_y,"
            " bbox_width, bbox_height, quality_score, match_status) FROM STDIN WITH (FORMAT BINARY)"
        ) as cp,
    ):
        cp.set_types(
            ["int4", "int4", "float4", "int4", "vector", "float4", "float4", "float4", "float4", "float4", "text"]
        )
        for v, video in enumerate(plan["videos"]):
            for slot, (name, photos) in enumerate(video):
                seen = False
                for frame, photo in photos:
                    if photo not in faces:
                        continue  # no face in the photo: nothing in the video either
                    face_id += 1
                    seen = True
                    person[face_id] = name
                    box = (20.0 + 300 * slot, 40.0, 110.0, 110.0)
                    cp.write_row((face_id, v + 1, 12.0 * (frame + 1), frame, faces[photo], *box, 0.9, "pending"))
                if seen and name in creator_ids:
                    truth.add((v + 1, creator_ids[name]))
    conn.execute("SELECT setval(pg_get_serial_sequence('video_face_detections', 'id'), %s)", (max(face_id, 1),))
    conn.execute("ANALYZE video_face_detections")
    conn.execute("ANALYZE creator_face_embeddings")
    conn.commit()
    return creator_ids, truth, person


def run_scale(quick: bool = False) -> StageResult:
    import psycopg

    from face_assets.db.connection import register_vector
    from face_assets.recognition.clustering import ClusteringConfig, cluster_faces
    from face_assets.recognition.config import RecognitionConfig
    from face_assets.recognition.evidence import describe_model, gallery_size, likelihood_model, target_llr
    from face_assets.recognition.matching import match_detections

    cfg = SCALE_QUICK if quick else SCALE_FULL
    plan = plan_scale(cfg, FIXTURES / "lfw_dev" / "images")
    faces, refs = embeddings(cfg, plan)
    n_videos = len(plan["videos"])
    say(
        f"[{ROW}] {len(plan['creators'])} creators ({len(refs)} with a reference), {len(plan['strangers'])} strangers, "
        f"{n_videos} videos, {len(faces)} faces with a face found"
    )
    with scratch_database("recognition_scale") as url, psycopg.connect(url) as conn:
        creator_ids, truth, person = load_library(conn, plan, faces, refs)
        config = RecognitionConfig.load(conn, model=MODEL_NAME)
        started = time.perf_counter()
        for start in range(1, n_videos + 1, RUN_VIDEOS):
            match_detections(conn, config, video_ids=range(start, min(start + RUN_VIDEOS, n_videos + 1)))
            conn.commit()
        match_s = time.perf_counter() - started

        def connect():
            c = psycopg.connect(url)
            register_vector(c)
            return c

        # The same clustering without the library-scale rule for clusters seen in two videos (rolled back): what
        # the rule costs and what it saves, on the same faces.
        cluster_faces(conn, replace(ClusteringConfig.load(conn), max_false_pairs=0), connect=connect)
        without_rule = measure_scale(conn, plan, creator_ids, truth, person)["clusters"]
        conn.rollback()
        started = time.perf_counter()
        clustering = cluster_faces(conn, connect=connect)
        conn.commit()
        cluster_s = time.perf_counter() - started
        figures = measure_scale(conn, plan, creator_ids, truth, person)
        figures["clusters_without_pair_rule"] = without_rule
        figures["likelihood"] = describe_model(likelihood_model(conn, config))
        figures["target_llr"] = round(target_llr(gallery_size(conn), config.auto_tag_max_false_rate), 2)
        figures["clustering_config"] = {
            "similarity": clustering.config.similarity,
            "min_faces": clustering.config.min_faces,
            "max_false_pairs": clustering.config.max_false_pairs,
            "candidates": clustering.candidates,
            "pair_similarity": round(clustering.pair_similarity, 4) if clustering.pair_similarity else None,
            "pairs_waiting": clustering.pairs_waiting,
        }
    figures["seconds"] = {"matching": round(match_s, 1), "clustering": round(cluster_s, 1)}
    t, c = figures["tags"], figures["clusters"]
    say(f"[{ROW}] {json.dumps({k: v for k, v in t.items() if k not in ('wrong', 'missed')})}; clusters {json.dumps(c)}")
    met = (
        len(plan["creators"]) >= TARGETS["creators"]
        and n_videos >= TARGETS["videos"]
        and (t["precision"] or 0) >= TARGETS["precision"]
        and (t["recall"] or 0) >= TARGETS["recall"]
        and c["impure_clusters"] == TARGETS["impure_clusters"]
    )
    return StageResult(
        name=ROW,
        sizes={
            "creators": len(plan["creators"]),
            "strangers": len(plan["strangers"]),
            "videos": n_videos,
            "faces": len(person),
            "true_pairs": len(truth),
            "model": MODEL_NAME,
            "seed": cfg["seed"],
        },
        ours="match_detections per run of 50 videos (matching, evidence, auto-tags, learned references), then cluster_faces",
        baseline="none (the figures are the goal)",
        ours_median_s=match_s + cluster_s,
        baseline_median_s=None,
        repetitions={"ours": 1, "baseline": 0},
        repetitions_note=(
            "one run: the targets are quality counts (precision, recall, cluster purity) of a deterministic pipeline "
            "on a seeded library, which a repetition gives again; the seconds are not a target"
        ),
        target=(
            f"precision >= {TARGETS['precision']}, recall >= {TARGETS['recall']} with no review, every cluster pure, "
            f">= {TARGETS['creators']} creators and >= {TARGETS['videos']} videos"
        ),
        met=bool(met),
        notes=(
            f"{len(plan['creators'])} creators (lfw_dev identities with >= {cfg['min_creator_photos']} photos), "
            f"{len(plan['strangers'])} strangers, {n_videos} videos of 2-4 people: precision {t['precision']}, "
            f"recall {t['recall']} ({t['auto_tags']} auto-tags, {t['wrong_auto_tags']} wrong; "
            f"{t['review_proposals']} proposals, {t['review_proposals_right']} right); clusters: "
            f"{c['impure_clusters']} impure of {c['clusters']}, {c['strangers_split']} of {c['strangers_recurring']} "
            f"recurring strangers split, {c['strangers_not_clustered']} not clustered; target LLR "
            f"{figures['target_llr']}. Seconds = matching + clustering (the library is embedded once, cached)."
        ),
        metrics=figures,
        ours_samples_s=[match_s + cluster_s],
        quick=quick,
    )


def measure_scale(conn, plan, creator_ids: dict[str, int], truth: set, person: dict[int, str]) -> dict[str, Any]:
    from benchmarks.bench_recognition import tag_figures

    names = {i: n for n, i in creator_ids.items()}
    tagged = set(conn.execute("SELECT video_id, creator_id FROM video_creators WHERE source = 'face_recognition'"))
    proposed = set(
        conn.execute(
            "SELECT DISTINCT video_id, matched_creator_id FROM video_face_detections"
            " WHERE match_status = 'pending' AND matched_creator_id IS NOT NULL"
        )
    )
    tags = tag_figures(tagged, proposed, truth)
    tags["wrong"] = sorted(f"{v}: {names.get(c)}" for v, c in tagged - truth)[:20]
    tags["missed"] = sorted(f"{v}: {names.get(c)}" for v, c in truth - tagged)[:40]
    tags["missed_count"] = len(truth - tagged)

    members: dict[int, set] = defaultdict(set)
    of_person: dict[str, set] = defaultdict(set)
    for det, cl in conn.execute("SELECT id, cluster_id FROM video_face_detections WHERE cluster_id IS NOT NULL"):
        members[cl].add(person[det])
        of_person[person[det]].add(cl)
    impure = sorted(cl for cl, people in members.items() if len(people) > 1)
    strangers = set(plan["strangers"])
    stranger_faces: dict[str, int] = defaultdict(int)
    for p in person.values():
        if p in strangers:
            stranger_faces[p] += 1
    recurring = {p for p, n in stranger_faces.items() if n >= 2}
    creators_clustered = sorted({p for cl, people in members.items() for p in people if p in creator_ids})
    return {
        "tags": tags,
        "clusters": {
            "clusters": len(members),
            "impure_clusters": len(impure),
            "impure": [sorted(members[cl]) for cl in impure[:10]],
            "strangers_recurring": len(recurring),
            "strangers_split": sum(len(of_person.get(p, ())) > 1 for p in recurring),
            "strangers_not_clustered": sum(not of_person.get(p) for p in recurring),
            "creators_in_clusters": len(creators_clustered),
        },
    }


def scale_markdown(r: dict) -> str:
    m = r.get("metrics") or {}
    t, c = m.get("tags") or {}, m.get("clusters") or {}
    lines = [
        f"- Auto-tags {t.get('auto_tags')}, wrong {t.get('wrong_auto_tags')} (precision {t.get('precision')}); true "
        f"(video, creator) pairs {t.get('true_pairs')}, tagged with no review: recall {t.get('recall')}; proposals for "
        f"review {t.get('review_proposals')} ({t.get('review_proposals_right')} right), recall after review "
        f"{t.get('recall_after_review')}. Target LLR {m.get('target_llr')}; likelihood {m.get('likelihood')}.",
        f"- Clusters {c.get('clusters')}, impure {c.get('impure_clusters')} {c.get('impure')}; recurring strangers "
        f"{c.get('strangers_recurring')}, split {c.get('strangers_split')}, not clustered "
        f"{c.get('strangers_not_clustered')}; creators with faces in clusters {c.get('creators_in_clusters')}.",
    ]
    cc, off = m.get("clustering_config") or {}, m.get("clusters_without_pair_rule")
    if cc.get("pair_similarity") is not None:
        lines.append(
            f"- Clusters seen in two videos need similarity {cc['pair_similarity']} among {cc.get('candidates')} "
            f"candidate faces (cluster_max_false_pairs {cc.get('max_false_pairs')}, over cluster_similarity "
            f"{cc.get('similarity')}): {cc.get('pairs_waiting')} wait for a third sighting."
        )
    if off:
        lines.append(
            f"- Without that rule (same faces, rolled back): clusters {off.get('clusters')}, impure "
            f"{off.get('impure_clusters')} {off.get('impure')}; recurring strangers not clustered "
            f"{off.get('strangers_not_clustered')}, split {off.get('strangers_split')}."
        )
    if t.get("wrong"):
        lines.append(f"- Wrong auto-tags (video: creator): {', '.join(t['wrong'])}.")
    return "\n".join(lines) + "\n"
