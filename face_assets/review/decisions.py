"""Review: a person confirms, rejects or assigns face matches and names or merges clusters of unknown faces.

The logic behind `face-assets review ...` (face_assets.cli.review parses arguments and prints) and the review
app's decisions. Every function takes a connection
and works in its transaction; the caller commits. Every decision re-matches the affected faces at once (the faces
of the affected videos and the undecided faces near the decided ones, through the HNSW index) with
face_assets.recognition.matching.match_detections, which also refreshes the auto-tags, so one correction spreads;
the returned `Outcome` says what changed.

How decisions are stored (the contract with matching, see sql/review/schema.sql):
- confirm / assign: match_status 'manual', matched_creator_id = the creator, decided_at = now; the creator gains a
  'video_frame' embedding from the face (source_path 'detection:<id>'); the video gets a 'manual' tag in
  video_creators unless it is tagged already (a legacy or face_recognition tag stays as it is);
- reject: matching.reject_match: match_status 'rejected', matched_creator_id = the rejected creator, decided_at =
  now, and a veto in face_match_rejections (matching never proposes that creator for that face again, even after
  re-detection). With `repropose` the face is reopened and gets its next-best creator, or none;
- revoking a confirmation (rejecting or re-assigning a 'manual' face) removes the embedding it gave, and the
  'manual' tag it backed when no other confirmed face of that creator is left in the video;
- cluster name: a new creator (or an existing one, `existing=True`); the cluster's faces become 'manual' for it,
  with embeddings, their videos get 'manual' tags, the cluster becomes 'named' with creator_id set;
- cluster merge A B: B's faces move to A, B becomes 'merged' (merged_into A, size 0); into a named cluster the
  faces become that creator's like in `name`; into an open one they are linked (face_cluster_links) so that
  clustering keeps them together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from face_assets.db.sql_files import read_sql
from face_assets.recognition.clustering import ensure_schema, lock_clusters, update_cluster_stats
from face_assets.recognition.config import RecognitionConfig
from face_assets.recognition.timeline import refresh_appearances

NEAR_FACES = 100  # undecided faces looked at around each decided face (HNSW k nearest)
MAX_FACE_LINES = 30  # face changes printed one by one; the rest are counted


class ReviewError(Exception):
    """A decision that cannot be made as asked (unknown id, nothing to reject, ...): nothing was changed."""


class ReviewNotFound(ReviewError):
    """A face, cluster or creator that does not exist: nothing was changed."""


class ReviewConflict(ReviewError):
    """The faces are no longer in the state the person decided on (someone else decided first, or re-matching
    changed the proposal): nothing was changed. `current` is their state now."""

    def __init__(self, message: str, current: Sequence[FaceState]):
        super().__init__(message)
        self.current = list(current)


@dataclass(frozen=True)
class FaceState:
    """What is decided about a face now."""

    detection_id: int
    video_id: int
    match_status: str
    creator_id: int | None
    creator: str | None
    confidence: float | None
    decided: bool  # a person decided (decided_at set)

    def as_json(self) -> dict:
        return {
            "detection_id": self.detection_id,
            "video_id": self.video_id,
            "match_status": self.match_status,
            "creator_id": self.creator_id,
            "creator": self.creator,
            "confidence": self.confidence,
            "decided": self.decided,
        }


@dataclass(frozen=True)
class Expect:
    """The state of a face a person saw when deciding (optimistic concurrency: the decision holds only if the face
    is still in that state). `status` None: any undecided state (nobody decided on the face yet)."""

    status: str | None = None
    creator_id: int | None = None

    def holds(self, state: FaceState) -> bool:
        if self.status is None:
            return not state.decided
        return state.match_status == self.status and state.creator_id == self.creator_id


@dataclass(frozen=True)
class PendingMatch:
    detection_id: int
    video_id: int
    video: str  # title, else file name
    file_name: str
    creator_id: int
    creator: str
    confidence: float | None
    crop_path: str | None
    timestamp: float


@dataclass(frozen=True)
class ClusterRow:
    id: int
    status: str
    size: int
    n_videos: int
    representative_detection_id: int | None
    crop_path: str | None
    creator_id: int | None
    creator: str | None
    merged_into: int | None


@dataclass
class Outcome:
    """What a review command did: its decisions, then what re-matching changed (faces and tags)."""

    decisions: list[str] = field(default_factory=list)
    face_changes: list[str] = field(default_factory=list)
    tag_changes: list[str] = field(default_factory=list)
    rematched_faces: int = 0
    creator_id: int | None = None  # the creator a cluster was named as

    def lines(self, max_faces: int = MAX_FACE_LINES) -> list[str]:
        out = list(self.decisions)
        out.append(f"re-matched {self.rematched_faces} face(s) near the decision and in its videos")
        if not self.face_changes and not self.tag_changes:
            out.append("nothing else changed")
        for line in self.face_changes[:max_faces]:
            out.append(f"  {line}")
        if len(self.face_changes) > max_faces:
            out.append(f"  ... and {len(self.face_changes) - max_faces} more face(s)")
        out.extend(f"  {line}" for line in self.tag_changes)
        return out


# --- reading ----------------------------------------------------------------------------------------------------------


def pending_matches(conn: psycopg.Connection, limit: int = 50) -> list[PendingMatch]:
    rows = conn.execute(read_sql("review/pending.sql"), {"limit": limit}).fetchall()
    return [
        PendingMatch(
            r[0], r[1], r[2] or r[3], r[3], r[4], r[5], None if r[6] is None else float(r[6]), r[7], float(r[8])
        )
        for r in rows
    ]


def list_clusters(conn: psycopg.Connection, statuses: Sequence[str] = ("open",), limit: int = 50) -> list[ClusterRow]:
    if conn.execute("SELECT to_regclass('face_clusters')").fetchone()[0] is None:
        return []
    rows = conn.execute(read_sql("clusters/list_clusters.sql"), {"statuses": list(statuses), "limit": limit}).fetchall()
    return [ClusterRow(*r[:9]) for r in rows]


def find_creator(conn: psycopg.Connection, ref: str | int) -> tuple[int, str]:
    """A creator by id (digits) or by name (exact, else the only one with that name in another case)."""
    text = str(ref).strip()
    if text.isdigit():
        row = conn.execute(read_sql("review/find_creator.sql"), {"id": int(text), "name": None}).fetchone()
        if row is None:
            raise ReviewNotFound(f"no creator with id {text}")
        return row[0], row[1]
    rows = conn.execute(read_sql("review/find_creator.sql"), {"id": None, "name": text}).fetchall()
    exact = [r for r in rows if r[2]]
    if exact:
        return exact[0][0], exact[0][1]
    if len(rows) == 1:
        return rows[0][0], rows[0][1]
    if not rows:
        raise ReviewNotFound(f"no creator named {text!r}")
    raise ReviewError(
        f"{text!r} names several creators: " + ", ".join(f"{r[0]} {r[1]!r}" for r in rows) + "; use the id"
    )


# --- decisions on faces -------------------------------------------------------------------------------------------------


def _detections(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, tuple]:
    rows = {r[0]: r for r in conn.execute(read_sql("review/detections.sql"), {"ids": list(ids)})}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise ReviewNotFound("no face detection with id " + ", ".join(map(str, missing)))
    return rows


def face_states(conn: psycopg.Connection, ids: Sequence[int], *, lock: bool = False) -> dict[int, FaceState]:
    """What is decided about faces `ids` now; with `lock`, the rows stay locked until the transaction ends."""
    rows = conn.execute(
        read_sql("review/lock_faces.sql" if lock else "review/face_states.sql"), {"ids": list(ids)}
    ).fetchall()
    return {
        r[0]: FaceState(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else float(r[5]), r[6] is not None)
        for r in rows
    }


def _check_expected(conn: psycopg.Connection, ids: Sequence[int], expect: Mapping[int, Expect] | None) -> None:
    """Lock the faces and raise ReviewConflict unless each is in the state `expect` says (no `expect`: no check).

    The lock makes two decisions on one face take turns: the second sees the first's result and gets the conflict."""
    if expect is None:
        return
    states = face_states(conn, ids, lock=True)
    missing = [i for i in ids if i not in states]
    if missing:
        raise ReviewNotFound("no face detection with id " + ", ".join(map(str, missing)))
    stale = [states[i] for i in ids if not expect.get(i, Expect()).holds(states[i])]
    if stale:
        raise ReviewConflict(
            "decided meanwhile: "
            + "; ".join(
                f"face {st.detection_id} is {st.match_status}"
                + (f" {st.creator!r} ({st.creator_id})" if st.creator_id else "")
                + (" (decided by a person)" if st.decided else "")
                for st in stale
            ),
            [states[i] for i in ids],
        )


class _Tracker:
    """Snapshots the faces and tags around a decision, re-matches, and reports the difference."""

    def __init__(
        self, conn: psycopg.Connection, config: RecognitionConfig, decided: Sequence[int], videos: Iterable[int]
    ):
        self.conn, self.config = conn, config
        self.decided = sorted(set(decided))
        self.near = self._near(self.decided) if self.decided else {}
        self.video_ids = sorted(set(videos) | set(self.near.values()))
        self.face_ids = sorted(set(self.decided) | set(self.near))
        self.faces_before = self._faces()
        self.tags_before = self._tags()

    def _near(self, ids: Sequence[int]) -> dict[int, int]:
        k = NEAR_FACES
        self.conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(k),))
        rows = self.conn.execute(
            read_sql("review/faces_near.sql"),
            {"ids": list(ids), "k": k, "similarity": self.config.match_threshold},
            prepare=False,
        ).fetchall()
        return dict(rows)

    def _faces(self) -> dict[int, tuple]:
        rows = self.conn.execute(
            read_sql("review/snapshot_faces.sql"), {"video_ids": self.video_ids, "ids": self.face_ids}
        ).fetchall()
        # Confidences rounded: a re-match recomputes them (float32) and would report noise as a change.
        return {r[0]: (*r[1:4], None if r[4] is None else round(float(r[4]), 3)) for r in rows}

    def _tags(self) -> dict[tuple[int, int], tuple]:
        rows = self.conn.execute(read_sql("review/snapshot_tags.sql"), {"video_ids": self.video_ids}).fetchall()
        return {(r[0], r[1]): (r[2], None if r[3] is None else round(float(r[3]), 3)) for r in rows}

    def rematch(self, outcome: Outcome) -> Outcome:
        from face_assets.recognition.matching import match_detections

        if not self.config.enabled:
            outcome.decisions.append("face recognition is disabled (face_recognition_config.enabled): no re-match")
        else:
            rematched = 0
            if self.video_ids:
                rematched += match_detections(self.conn, self.config, video_ids=self.video_ids).faces
            others = sorted(set(self.near) - set(self.decided))
            if others:
                rematched += match_detections(self.conn, self.config, detection_ids=others).faces
            outcome.rematched_faces = rematched
        refresh_appearances(self.conn, self.video_ids)  # who each track is may have changed
        self._report(outcome)
        return outcome

    def _report(self, outcome: Outcome) -> None:
        faces_after = self._faces()
        tags_after = self._tags()
        creators = {c for state in (*self.faces_before.values(), *faces_after.values()) for c in [state[2]] if c}
        creators |= {c for _, c in (*self.tags_before, *tags_after)}
        names = _names(self.conn, creators, self.video_ids)
        decided = set(self.decided)
        for face in sorted(faces_after):
            before, after = self.faces_before.get(face), faces_after[face]
            if face in decided or before is None or before[1:] == after[1:]:
                continue
            outcome.face_changes.append(
                f"face {face} in video {after[0]} {names.video(after[0])}: "
                f"{_state(before, names)} -> {_state(after, names)}"
            )
        for key in sorted(set(self.tags_before) | set(tags_after)):
            video, creator = key
            label = f"video {video} {names.video(video)}: {names.creator(creator)}"
            before, after = self.tags_before.get(key), tags_after.get(key)
            if before is None and after is not None:
                outcome.tag_changes.append(f"{label} tagged ({_tag(after)})")
            elif before is not None and after is None:
                outcome.tag_changes.append(f"{label} untagged (was {_tag(before)})")
            elif before != after:
                outcome.tag_changes.append(f"{label} tag {_tag(before)} -> {_tag(after)}")


class _Names:
    def __init__(self, creators: dict[int, str], videos: dict[int, str]):
        self.creators, self.videos = creators, videos

    def creator(self, creator_id: int | None) -> str:
        return f"{self.creators.get(creator_id, '?')!r} ({creator_id})" if creator_id else "no creator"

    def video(self, video_id: int) -> str:
        return f"({self.videos.get(video_id, '?')})"


def _names(conn: psycopg.Connection, creator_ids: Iterable[int], video_ids: Iterable[int]) -> _Names:
    creators: dict[int, str] = {}
    videos: dict[int, str] = {}
    for kind, key, name in conn.execute(
        read_sql("review/names.sql"), {"creator_ids": sorted(set(creator_ids)), "video_ids": sorted(set(video_ids))}
    ):
        (creators if kind == "creator" else videos)[key] = name
    return _Names(creators, videos)


def _state(state: tuple, names: _Names) -> str:
    _, status, creator, confidence = state
    if creator is None:
        return status
    score = "" if confidence is None else f" {float(confidence):.2f}"
    return f"{status} {names.creator(creator)}{score}"


def _tag(tag: tuple) -> str:
    source, confidence = tag
    return source if confidence is None else f"{source} {float(confidence):.2f}"


def _revoke_confirmations(conn: psycopg.Connection, revoked: Sequence[tuple[int, int, int]], outcome: Outcome) -> None:
    """(face, video, creator) confirmations a person took back: their embeddings and the manual tags they backed."""
    if not revoked:
        return
    removed = conn.execute(
        read_sql("review/remove_embeddings.sql"),
        {"ids": [r[0] for r in revoked], "creator_ids": [r[2] for r in revoked]},
    ).fetchall()
    untagged = conn.execute(
        read_sql("review/untag_manual.sql"),
        {"videos": [r[1] for r in revoked], "creators": [r[2] for r in revoked]},
    ).fetchall()
    if removed:
        outcome.decisions.append(f"removed {len(removed)} creator embedding(s) taken from those faces")
    for video, creator in untagged:
        outcome.decisions.append(f"removed the manual tag of creator {creator} on video {video}")


def _make_manual(
    conn: psycopg.Connection, pairs: Sequence[tuple[int, int]], outcome: Outcome
) -> list[tuple[int, int, int]]:
    """Faces become 'manual' decisions for creators ((face, creator) pairs) with embeddings and tags."""
    from face_assets.review.forget import refuse_forgotten  # here: forget builds on this module

    refuse_forgotten(conn, {p[1] for p in pairs})  # a forgotten creator gets no face again
    params = {"ids": [p[0] for p in pairs], "creator_ids": [p[1] for p in pairs]}
    decided = conn.execute(read_sql("review/decide_manual.sql"), params).fetchall()
    if conn.execute("SELECT to_regclass('face_match_rejections')").fetchone()[0] is not None:
        conn.execute(read_sql("review/unveto.sql"), params)
    ids = params["ids"]
    embeddings = conn.execute(read_sql("review/add_embeddings.sql"), {"ids": ids}).fetchall()
    tagged = conn.execute(read_sql("review/tag_videos.sql"), {"ids": ids}).fetchall()
    outcome.decisions.append(
        f"{len(embeddings)} creator embedding(s) added from the faces; {len(tagged)} video(s) tagged (manual)"
    )
    return decided


def confirm(
    conn: psycopg.Connection,
    detection_ids: Sequence[int],
    config: RecognitionConfig | None = None,
    *,
    expect: Mapping[int, Expect] | None = None,
) -> Outcome:
    """The proposed creator of each face is right: 'manual', an embedding for the creator, a tag for the video.
    With `expect`, only if the faces are still as the person saw them (else ReviewConflict)."""
    config = config or RecognitionConfig.load(conn)
    ids = sorted({int(i) for i in detection_ids})
    _check_expected(conn, ids, expect)
    faces = _detections(conn, ids)
    without = [i for i in ids if faces[i][3] is None]
    if without:
        raise ReviewError(
            "no proposed creator to confirm for face " + ", ".join(map(str, without)) + " (use review assign)"
        )
    outcome = Outcome()
    tracker = _Tracker(conn, config, ids, {faces[i][1] for i in ids})
    names = _names(conn, {faces[i][3] for i in ids}, {faces[i][1] for i in ids})
    for i in ids:
        outcome.decisions.append(
            f"confirmed face {i} in video {faces[i][1]} {names.video(faces[i][1])} as {names.creator(faces[i][3])}"
            + ("" if faces[i][2] != "manual" else " (already confirmed)")
        )
    _make_manual(conn, [(i, faces[i][3]) for i in ids], outcome)
    return tracker.rematch(outcome)


def reject(
    conn: psycopg.Connection,
    detection_ids: Sequence[int],
    config: RecognitionConfig | None = None,
    *,
    repropose: bool = False,
    expect: Mapping[int, Expect] | None = None,
) -> Outcome:
    """The proposed (or confirmed) creator of each face is wrong: 'rejected' and never proposed again for it."""
    from face_assets.recognition.matching import reject_match

    config = config or RecognitionConfig.load(conn)
    ids = sorted({int(i) for i in detection_ids})
    _check_expected(conn, ids, expect)
    faces = _detections(conn, ids)
    without = [i for i in ids if faces[i][3] is None]
    if without:
        raise ReviewError("no creator to reject for face " + ", ".join(map(str, without)))
    outcome = Outcome()
    tracker = _Tracker(conn, config, ids, {faces[i][1] for i in ids})
    names = _names(conn, {faces[i][3] for i in ids}, {faces[i][1] for i in ids})
    reject_match(conn, config, ids, repropose=repropose)
    for i in ids:
        outcome.decisions.append(
            f"rejected {names.creator(faces[i][3])} for face {i} in video {faces[i][1]} {names.video(faces[i][1])}"
            + (" (reopened for the next-best creator)" if repropose else "")
        )
    _revoke_confirmations(conn, [(i, faces[i][1], faces[i][3]) for i in ids if faces[i][2] == "manual"], outcome)
    return tracker.rematch(outcome)


def assign(
    conn: psycopg.Connection,
    detection_id: int,
    creator: str | int,
    config: RecognitionConfig | None = None,
    *,
    create: bool = False,
    expect: Mapping[int, Expect] | None = None,
) -> Outcome:
    """The face is this creator (whatever matching said): 'manual' with that creator, embedding, tag.
    `creator` is an id or a name; with `create`, a name no creator has becomes a new creator."""
    config = config or RecognitionConfig.load(conn)
    _check_expected(conn, [int(detection_id)], expect)
    face = _detections(conn, [int(detection_id)])[int(detection_id)]
    outcome = Outcome()
    try:
        creator_id, _creator_name = find_creator(conn, creator)
    except ReviewNotFound:
        name = str(creator).strip()
        if not create or not name or name.isdigit():
            raise
        creator_id = conn.execute("INSERT INTO creators (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
        outcome.decisions.append(f"created creator {name!r} ({creator_id})")
    outcome.creator_id = creator_id
    tracker = _Tracker(conn, config, [face[0]], [face[1]])
    names = _names(conn, [c for c in (face[3], creator_id) if c], [face[1]])
    was = "" if face[3] is None else f" (was {face[2]} {names.creator(face[3])})"
    outcome.decisions.append(
        f"assigned face {face[0]} in video {face[1]} {names.video(face[1])} to {names.creator(creator_id)}{was}"
    )
    _make_manual(conn, [(face[0], creator_id)], outcome)
    if face[2] == "manual" and face[3] is not None and face[3] != creator_id:
        _revoke_confirmations(conn, [(face[0], face[1], face[3])], outcome)  # after: the face is no longer theirs
    return tracker.rematch(outcome)


def reopen(
    conn: psycopg.Connection,
    detection_ids: Sequence[int],
    config: RecognitionConfig | None = None,
    *,
    expect: Mapping[int, Expect] | None = None,
) -> Outcome:
    """Undo: a person's decision on each face (a confirmation, assignment or rejection) is taken back. The face is
    undecided again and re-matched at once (so it is usually proposed again); a confirmation's embedding and the
    manual tag it backed go, a rejection's veto goes."""
    config = config or RecognitionConfig.load(conn)
    ids = sorted({int(i) for i in detection_ids})
    _check_expected(conn, ids, expect)
    if expect is None:
        face_states(conn, ids, lock=True)  # two undos of one face take turns: the second finds nothing to undo
    faces = _detections(conn, ids)
    undecided = [i for i in ids if faces[i][5] is None and faces[i][2] not in ("manual", "rejected")]
    if undecided:
        raise ReviewError("no decision to undo on face " + ", ".join(map(str, undecided)))
    outcome = Outcome()
    tracker = _Tracker(conn, config, ids, {faces[i][1] for i in ids})
    names = _names(conn, {faces[i][3] for i in ids if faces[i][3]}, {faces[i][1] for i in ids})
    rejected = [i for i in ids if faces[i][2] == "rejected" and faces[i][3] is not None]
    if rejected and conn.execute("SELECT to_regclass('face_match_rejections')").fetchone()[0] is not None:
        conn.execute(read_sql("review/unveto.sql"), {"ids": rejected, "creator_ids": [faces[i][3] for i in rejected]})
    conn.execute(read_sql("review/reopen.sql"), {"ids": ids})
    for i in ids:
        outcome.decisions.append(
            f"undid {faces[i][2]} {names.creator(faces[i][3])} for face {i} in video {faces[i][1]} "
            f"{names.video(faces[i][1])}"
        )
    _revoke_confirmations(
        conn, [(i, faces[i][1], faces[i][3]) for i in ids if faces[i][2] == "manual" and faces[i][3]], outcome
    )
    return tracker.rematch(outcome)


# --- decisions on clusters ----------------------------------------------------------------------------------------------


def _cluster(conn: psycopg.Connection, cluster_id: int) -> tuple:
    row = conn.execute(read_sql("review/cluster.sql"), {"id": cluster_id}).fetchone()
    if row is None:
        raise ReviewNotFound(f"no cluster with id {cluster_id}")
    return row


def _usable(row: tuple, verb: str) -> None:
    cid, status, _, _, _, _creator, merged_into = row
    if status == "merged":
        raise ReviewError(f"cluster {cid} was merged into cluster {merged_into}; {verb} cluster {merged_into}")
    if status == "dissolved":
        raise ReviewError(f"cluster {cid} is dissolved (its faces are in other clusters now or in none)")


def name_cluster(
    conn: psycopg.Connection,
    cluster_id: int,
    name: str,
    config: RecognitionConfig | None = None,
    *,
    existing: bool = False,
) -> Outcome:
    """Cluster -> creator `name` (a new creators row; with `existing`, the creator of that name)."""
    config = config or RecognitionConfig.load(conn)
    name = name.strip()
    if not name:
        raise ReviewError("the name is empty")
    lock_clusters(conn)
    ensure_schema(conn)
    row = _cluster(conn, cluster_id)
    _usable(row, "name")
    if row[1] == "named":
        raise ReviewError(f"cluster {cluster_id} is named already: {row[5]!r} (creator {row[4]})")
    faces = conn.execute(read_sql("review/cluster_faces.sql"), {"ids": [cluster_id]}).fetchall()
    if not faces:
        raise ReviewError(f"cluster {cluster_id} has no faces")
    same = conn.execute(read_sql("review/find_creator.sql"), {"id": None, "name": name}).fetchall()
    exact = [r for r in same if r[2]]
    outcome = Outcome()
    if existing:
        if not exact:
            raise ReviewError(
                f"no creator named {name!r}"
                + (" (did you mean " + ", ".join(repr(r[1]) for r in same) + "?)" if same else "")
            )
        creator_id = exact[0][0]
        outcome.decisions.append(f"cluster {cluster_id} is creator {name!r} ({creator_id})")
    else:
        if exact:
            raise ReviewError(
                f"a creator named {name!r} exists (id {exact[0][0]}); add --existing to name the cluster as that creator"
            )
        creator_id = conn.execute("INSERT INTO creators (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]
        outcome.decisions.append(f"created creator {name!r} ({creator_id}) from cluster {cluster_id}")
        if same:
            outcome.decisions.append("note: similar names exist: " + ", ".join(f"{r[1]!r} ({r[0]})" for r in same))
    outcome.creator_id = creator_id
    faces = _keep_decided(conn, faces, creator_id, outcome)
    tracker = _Tracker(conn, config, [f[0] for f in faces], {f[1] for f in faces})
    outcome.decisions.append(f"{len(faces)} face(s) of cluster {cluster_id} confirmed as {name!r}")
    _make_manual(conn, [(f[0], creator_id) for f in faces], outcome)
    conn.execute(read_sql("review/name_cluster.sql"), {"id": cluster_id, "creator_id": creator_id})
    update_cluster_stats(conn, [cluster_id], [cluster_id])
    return tracker.rematch(outcome)


def _keep_decided(conn: psycopg.Connection, faces: Sequence[tuple], creator_id: int, outcome: Outcome) -> list[tuple]:
    """Cluster faces (rows of cluster_faces.sql) a person confirmed as another creator keep that decision and
    leave the cluster; the other faces are returned."""
    taken = [f for f in faces if f[3] == "manual" and f[4] is not None and f[4] != creator_id]
    if taken:
        conn.execute(read_sql("review/leave_cluster.sql"), {"ids": [f[0] for f in taken]})
        outcome.decisions.append(
            "kept as decided before, out of the cluster: " + ", ".join(f"face {f[0]} (creator {f[4]})" for f in taken)
        )
    return [f for f in faces if f not in taken]


def merge_clusters(
    conn: psycopg.Connection, into_id: int, other_id: int, config: RecognitionConfig | None = None
) -> Outcome:
    """Cluster `other_id` is the same person as `into_id`: its faces move there, it becomes 'merged'."""
    config = config or RecognitionConfig.load(conn)
    if into_id == other_id:
        raise ReviewError("a cluster cannot be merged into itself")
    lock_clusters(conn)
    ensure_schema(conn)
    into, other = _cluster(conn, into_id), _cluster(conn, other_id)
    _usable(into, "merge into")
    _usable(other, "merge")
    if other[1] == "named" and into[1] != "named":
        raise ReviewError(
            f"cluster {other_id} is named ({other[5]!r}): merge the open cluster into it instead "
            f"(review cluster merge {other_id} {into_id})"
        )
    if other[1] == "named" and into[1] == "named" and other[4] != into[4]:
        raise ReviewError(
            f"clusters {into_id} and {other_id} are different creators ({into[5]!r}, {other[5]!r}); not merged"
        )
    faces = conn.execute(read_sql("review/cluster_faces.sql"), {"ids": [other_id]}).fetchall()
    outcome = Outcome()
    if into[1] == "named":
        faces = _keep_decided(conn, faces, into[4], outcome)
    tracker = _Tracker(conn, config, [f[0] for f in faces] if into[1] == "named" else [], {f[1] for f in faces})
    moved = conn.execute(read_sql("review/merge_clusters.sql"), {"into": into_id, "other": other_id}).fetchone()[0]
    outcome.decisions.append(f"merged cluster {other_id} into cluster {into_id}: {moved} face(s) moved")
    if into[1] == "named":
        creator_id = into[4]
        _make_manual(conn, [(f[0], creator_id) for f in faces], outcome)
        outcome.decisions.append(f"their faces are confirmed as {into[5]!r} ({creator_id})")
    else:
        members = conn.execute(read_sql("review/cluster_faces.sql"), {"ids": [into_id]}).fetchall()
        conn.execute(read_sql("review/link_faces.sql"), {"ids": [m[0] for m in members], "link_group": into_id})
    update_cluster_stats(conn, [into_id], [into_id])
    size = conn.execute("SELECT size, n_videos FROM face_clusters WHERE id = %s", (into_id,)).fetchone()
    outcome.decisions.append(f"cluster {into_id} now has {size[0]} face(s) in {size[1]} video(s)")
    return tracker.rematch(outcome)


def ignore_cluster(conn: psycopg.Connection, cluster_id: int) -> Outcome:
    """Cluster `cluster_id` is nobody to name: 'ignored', out of the list of open clusters; clustering leaves it."""
    lock_clusters(conn)
    ensure_schema(conn)
    row = _cluster(conn, cluster_id)
    _usable(row, "ignore")
    if row[1] != "open":
        raise ReviewError(f"cluster {cluster_id} is {row[1]}, not open")
    conn.execute(read_sql("review/ignore_cluster.sql"), {"id": cluster_id})
    return Outcome(decisions=[f"cluster {cluster_id} ignored ({row[2]} face(s) in {row[3]} video(s))"])


def remove_from_cluster(conn: psycopg.Connection, cluster_id: int, detection_ids: Sequence[int]) -> Outcome:
    """Faces `detection_ids` in cluster `cluster_id` are someone else: out of it, and out of clustering until a
    person says who they are (review assign)."""
    lock_clusters(conn)
    ensure_schema(conn)
    row = _cluster(conn, cluster_id)
    _usable(row, "edit")
    ids = sorted({int(i) for i in detection_ids})
    faces = _detections(conn, ids)
    foreign = [i for i in ids if faces[i][6] != cluster_id]
    if foreign:
        raise ReviewError(f"not in cluster {cluster_id}: face " + ", ".join(map(str, foreign)))
    removed = conn.execute(read_sql("review/exclude_faces.sql"), {"ids": ids, "cluster_id": cluster_id}).fetchall()
    update_cluster_stats(conn, [cluster_id], [cluster_id])
    refresh_appearances(conn, {faces[i][1] for i in ids})  # those faces' tracks are nobody known now
    size = conn.execute("SELECT size, n_videos FROM face_clusters WHERE id = %s", (cluster_id,)).fetchone()
    return Outcome(
        decisions=[
            f"removed {len(removed)} face(s) from cluster {cluster_id}: " + ", ".join(str(r[0]) for r in removed),
            f"cluster {cluster_id} now has {size[0]} face(s) in {size[1]} video(s)",
        ]
    )
