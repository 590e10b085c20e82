"""How the pipeline's results compare with a ground truth file (the fixture library's truth.json).

Used by `face-assets summary --truth` (and so by `make demo`) and by the end-to-end test. The truth says which
creators and which unknown people appear in each video; it does not say which face is whom, so:
  - an auto-tag is right when the tagged creator is in the video's truth;
  - a creator is found when the video is tagged with it (from any source);
  - an unknown person is clustered when the unmatched faces of the videos where they are the only person are in
    one cluster, and a cluster is pure when some person of the truth appears in every video of its faces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from face_assets.db.sql_files import read_sql


@dataclass
class Evaluation:
    creators_with_pictures: int = 0
    creators_embedded: list[str] = field(default_factory=list)
    creators_not_embedded: dict[str, str] = field(default_factory=dict)  # name -> reason
    auto_tags: list[tuple[str, str, float]] = field(default_factory=list)  # (video, creator, confidence)
    wrong_auto_tags: list[tuple[str, str, float]] = field(default_factory=list)
    found: list[tuple[str, str, str]] = field(default_factory=list)  # (video, creator, source)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (video, creator, why)
    unknown_clusters: dict[str, list[int]] = field(default_factory=dict)  # person -> cluster ids of their faces
    impure_clusters: list[int] = field(default_factory=list)

    @property
    def unknown_people_clustered(self) -> dict[str, bool]:
        return {person: len(ids) == 1 for person, ids in self.unknown_clusters.items()}

    def lines(self) -> list[str]:
        out = [
            f"creators with a usable picture embedded: {len(self.creators_embedded)} of {self.creators_with_pictures}"
        ]
        out += [f"  not embedded: {name}: {why}" for name, why in sorted(self.creators_not_embedded.items())]
        out.append(f"auto-tags: {len(self.auto_tags)}, wrong: {len(self.wrong_auto_tags)}")
        out += [f"  WRONG: {v} tagged {c} ({conf:.2f})" for v, c, conf in self.wrong_auto_tags]
        out.append(
            f"creators of the truth found in their videos: {len(self.found)} of {len(self.found) + len(self.missed)}"
        )
        out += [f"  found: {v}: {c} ({source})" for v, c, source in self.found]
        out += [f"  missed: {v}: {c}: {why}" for v, c, why in self.missed]
        for person, ids in sorted(self.unknown_clusters.items()):
            state = "one cluster" if len(ids) == 1 else ("not clustered" if not ids else f"split over {len(ids)}")
            out.append(f"unknown person {person}: {state} {ids if ids else ''}".rstrip())
        out.append(f"clusters mixing people: {self.impure_clusters or 'none'}")
        return out


def _video_ids(conn: psycopg.Connection, truth: dict, library: Path) -> dict[str, int]:
    """Truth's video names (relative to the library) -> video ids, by legacy id or by file path."""
    ids = dict(truth.get("legacy_video_ids", {}))
    paths = {name: str(library / name) for name in truth["videos"] if name not in ids}
    for name, path in paths.items():
        row = conn.execute("SELECT id FROM videos WHERE file_path = %s", (path,)).fetchone()
        if row:
            ids[name] = row[0]
    return ids


def evaluate(conn: psycopg.Connection, truth_path: Path) -> Evaluation:
    truth = json.loads(Path(truth_path).read_text())
    library = Path(truth_path).parent / "library"
    creator_ids: dict[str, int] = truth["legacy_creator_ids"]
    names = {v: k for k, v in creator_ids.items()}
    videos = _video_ids(conn, truth, library)
    video_names = {v: k for k, v in videos.items()}
    result = Evaluation(creators_with_pictures=len(truth["creators_with_pictures"]))

    embedded = {
        cid
        for (cid,) in conn.execute(
            "SELECT DISTINCT creator_id FROM creator_face_embeddings WHERE creator_id = ANY(%s)",
            (list(creator_ids.values()),),
        )
    }
    issues = dict(
        conn.execute(
            "SELECT creator_id, string_agg(reason, '; ') FROM creator_embedding_issues"
            " WHERE creator_id = ANY(%s) GROUP BY 1",
            (list(creator_ids.values()),),
        ).fetchall()
    )
    for name in truth["creators_with_pictures"]:
        cid = creator_ids[name]
        if cid in embedded:
            result.creators_embedded.append(name)
        else:
            result.creators_not_embedded[name] = issues.get(cid, "no embedding and no recorded issue")

    tags = conn.execute(read_sql("evaluation/tags.sql"), (list(videos.values()),)).fetchall()
    tagged = {(vid, cid): (source, conf) for vid, cid, source, conf in tags}
    for (vid, cid), (source, conf) in tagged.items():
        if source != "face_recognition":
            continue
        video = video_names[vid]
        creator = names.get(cid, f"creator {cid}")
        result.auto_tags.append((video, creator, conf))
        if creator not in truth["videos"][video]["creators"]:
            result.wrong_auto_tags.append((video, creator, conf))

    best = {
        (vid, cid): (sim, faces)
        for vid, cid, sim, faces in conn.execute(
            read_sql("evaluation/best_matches.sql"), (list(videos.values()),)
        ).fetchall()
    }
    for video, entry in sorted(truth["videos"].items()):
        vid = videos.get(video)
        for creator in entry["creators"]:
            cid = creator_ids[creator]
            if vid is not None and (vid, cid) in tagged:
                result.found.append((video, creator, tagged[(vid, cid)][0]))
                continue
            if vid is None:
                why = "video not registered"
            elif cid not in embedded:
                why = "creator has no embedding"
            elif (vid, cid) in best:
                sim, faces = best[(vid, cid)]
                why = f"evidence too weak for an auto-tag (best similarity {sim:.2f} over {faces} face(s)); queued for review"
            else:
                why = "no detected face of the video is close to the creator (face too small, missed or not sampled)"
            result.missed.append((video, creator, why))

    clusters = conn.execute(read_sql("evaluation/cluster_videos.sql"), (list(videos.values()),)).fetchall()
    for cluster_id, video_ids in clusters:
        people = None
        for vid in video_ids:
            entry = truth["videos"].get(video_names.get(vid, ""), {})
            present = set(entry.get("unknown_people", [])) | set(entry.get("creators", []))
            if present:  # a video with no real person (an animated one) says nothing about who the cluster is
                people = present if people is None else people & present
        if people is not None and not people:
            result.impure_clusters.append(cluster_id)
    only_person = {
        video: entry["unknown_people"][0]
        for video, entry in truth["videos"].items()
        if len(entry["unknown_people"]) == 1 and not entry["creators"]
    }
    people = sorted({p for e in truth["videos"].values() for p in e["unknown_people"]})
    for person in people:
        vids = [videos[v] for v, p in only_person.items() if p == person and v in videos]
        ids = (
            [
                cid
                for (cid,) in conn.execute(
                    "SELECT DISTINCT cluster_id FROM video_face_detections WHERE video_id = ANY(%s)"
                    " AND cluster_id IS NOT NULL ORDER BY 1",
                    (vids,),
                )
            ]
            if vids
            else []
        )
        if vids:
            result.unknown_clusters[person] = ids
    return result
