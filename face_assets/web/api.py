"""The HTTP API under /api/face-recognition/ (the design's endpoints, plus what the review pages need).

Routes validate input (pydantic / FastAPI) and call the plain logic; errors are mapped by face_assets.web.app:
unknown id 404, a decision on a face someone else decided meanwhile 409 with the current state, a decision that
cannot be made as asked 400, an invalid setting 422 (nothing written), PostgreSQL unreachable 503. Forgetting a
person (DELETE .../creator/{id}/faces, DELETE .../cluster/{id}) cannot be undone: the pages ask first.

Optimistic concurrency: a decision names the state the person saw (`expected_status`, `expected_creator_id`);
without them it holds only for a face nobody decided on yet. Either way, a second decision on the same face gets 409.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Path, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from face_assets.review import config_store
from face_assets.review import decisions as review
from face_assets.review import queries as review_queries
from face_assets.review import stats as review_stats
from face_assets.web.deps import db, state

router = APIRouter(prefix="/api/face-recognition", tags=["face recognition"])

Limit = Annotated[int, Query(ge=1, le=500)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
PathId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # an id in the path: anything else is a 422, never a database error


# --- models ------------------------------------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expectation(Strict):
    expected_status: str | None = Field(None, description="the face's match_status the person saw")
    expected_creator_id: int | None = Field(None, description="the creator the person saw (with expected_status)")

    def expect(self) -> review.Expect:
        return review.Expect(self.expected_status, self.expected_creator_id)


class FaceDecision(Expectation):
    detection_id: Id


class Batch(Strict):
    faces: list[FaceDecision] = Field(min_length=1, max_length=500)
    repropose: bool = False  # reject only: reopen for the next-best creator

    def expects(self) -> dict[int, review.Expect]:
        return {f.detection_id: f.expect() for f in self.faces}


class RejectBody(Expectation):
    repropose: bool = False


class AssignBody(Expectation):
    creator_id: Id | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    create: bool = Field(False, description="with `name`: create the creator when no creator has that name")

    @model_validator(mode="after")
    def one_creator(self):
        if (self.creator_id is None) == (self.name is None):
            raise ValueError("give either creator_id or name")
        return self


class NameBody(Strict):
    name: str = Field(min_length=1, max_length=200)
    existing: bool = Field(False, description="name the cluster as the existing creator of that name")


class MergeBody(Strict):
    other: Id = Field(description="the cluster that goes into this one")


class RemoveFacesBody(Strict):
    detection_ids: list[Id] = Field(min_length=1, max_length=500)


Similarity = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]


class ConfigPatch(Strict):
    """The settings to change; any other key is refused (422) and nothing is written."""

    match_threshold: Similarity | None = None
    auto_tag_threshold: Similarity | None = None
    auto_tag_margin: Similarity | None = None
    min_detection_score: Similarity | None = None
    auto_tag_min_frames: PositiveInt | None = None
    frames_per_video: PositiveInt | None = None
    min_face_size: PositiveInt | None = None
    enabled: StrictBool | None = None

    @model_validator(mode="after")
    def both_thresholds(self):
        if (
            self.match_threshold is not None
            and self.auto_tag_threshold is not None
            and self.auto_tag_threshold < self.match_threshold
        ):
            raise ValueError("auto_tag_threshold must be >= match_threshold")
        return self


def _outcome(outcome: review.Outcome) -> dict[str, Any]:
    return {
        "decisions": outcome.decisions,
        "face_changes": outcome.face_changes,
        "tag_changes": outcome.tag_changes,
        "rematched_faces": outcome.rematched_faces,
        "creator_id": outcome.creator_id,
        "lines": outcome.lines(),
    }


def _page(page: review_queries.Page) -> dict[str, Any]:
    return {"items": [i.as_json() for i in page.items], "next_cursor": page.next_cursor}


def _with_urls(face: dict[str, Any]) -> dict[str, Any]:
    face["crop_url"] = f"/images/detection/{face['detection_id']}.jpg"
    return face


# --- the review queue ----------------------------------------------------------------------------------------------------


@router.get("/pending", summary="Proposed matches waiting for review (keyset-paginated)")
def pending(
    request: Request,
    limit: Limit = 50,
    cursor: str | None = None,
    video_id: int | None = None,
    creator_id: int | None = None,
) -> dict:
    with db(request) as conn:
        page = review_queries.pending_page(conn, limit, cursor, video_id=video_id, creator_id=creator_id)
    return {"items": [_with_urls(f.as_json()) for f in page.items], "next_cursor": page.next_cursor}


@router.get("/pending/groups", summary="The review queue grouped by (video, proposed creator)")
def pending_groups(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
    faces_per_group: Annotated[int, Query(ge=1, le=50)] = 8,
) -> dict:
    with db(request) as conn:
        page = review_queries.pending_groups(conn, limit, cursor, faces_per_group=faces_per_group)
    out = _page(page)
    for group in out["items"]:
        group["shown"] = [_with_urls(f) for f in group["shown"]]
    return out


@router.get("/face/{face_id}", summary="A face and why it got its proposal (best creators, runner-up)")
def face(request: Request, face_id: int) -> dict:
    with db(request) as conn:
        found = review_queries.explain_face(conn, face_id)
    if found is None:
        raise HTTPException(404, f"no face detection with id {face_id}")
    _with_urls(found["face"])
    return found


@router.post("/confirm/{face_id}", summary="Confirm the proposed creator of a face")
def confirm(request: Request, face_id: int, body: Expectation | None = None) -> dict:
    body = body or Expectation()
    with db(request, vectors=True) as conn:
        return _outcome(review.confirm(conn, [face_id], expect={face_id: body.expect()}))


@router.post("/confirm", summary="Confirm several faces at once")
def confirm_many(request: Request, body: Batch) -> dict:
    with db(request, vectors=True) as conn:
        return _outcome(review.confirm(conn, list(body.expects()), expect=body.expects()))


@router.post("/reject/{face_id}", summary="Reject the proposed (or confirmed) creator of a face")
def reject(request: Request, face_id: int, body: RejectBody | None = None) -> dict:
    body = body or RejectBody()
    with db(request, vectors=True) as conn:
        return _outcome(review.reject(conn, [face_id], repropose=body.repropose, expect={face_id: body.expect()}))


@router.post("/reject", summary="Reject several faces at once")
def reject_many(request: Request, body: Batch) -> dict:
    with db(request, vectors=True) as conn:
        return _outcome(review.reject(conn, list(body.expects()), repropose=body.repropose, expect=body.expects()))


@router.post("/assign/{face_id}", summary="The face is this creator (by id or name; `create` makes a new one)")
def assign(request: Request, face_id: int, body: AssignBody) -> dict:
    with db(request, vectors=True) as conn:
        creator = body.creator_id if body.creator_id is not None else body.name
        return _outcome(review.assign(conn, face_id, creator, create=body.create, expect={face_id: body.expect()}))


@router.post("/undo/{face_id}", summary="Take back the decision on a face (confirmation, assignment or rejection)")
def undo(request: Request, face_id: int, body: Expectation | None = None) -> dict:
    # Without an expectation, whatever was decided is undone (the row lock still makes two undos take turns: the
    # second finds nothing to undo).
    expect = None if body is None or body.expected_status is None else {face_id: body.expect()}
    with db(request, vectors=True) as conn:
        return _outcome(review.reopen(conn, [face_id], expect=expect))


# --- videos --------------------------------------------------------------------------------------------------------------


@router.get("/video/{video_id}/faces", summary="All detected faces of a video")
def video_faces(request: Request, video_id: int) -> dict:
    with db(request) as conn:
        if not review_queries.video_exists(conn, video_id):
            raise HTTPException(404, f"no video with id {video_id}")
        faces = review_queries.video_faces(conn, video_id)
    return {"video_id": video_id, "items": [_with_urls(f.as_json()) for f in faces]}


@router.get("/video/{video_id}/appearances", summary="Who is on screen in a video, and when (face_appearances)")
def video_appearances(request: Request, video_id: int) -> dict:
    from face_assets.review.timeline import video_timeline

    with db(request) as conn:
        if not review_queries.video_exists(conn, video_id):
            raise HTTPException(404, f"no video with id {video_id}")
        found = video_timeline(conn, video_id)
    for item in found["items"]:
        if item["frame_index"] is not None:
            item["frame_url"] = f"/images/frame/{video_id}/{item['frame_index']}.jpg"
    for person in found["people"]:
        del person["appearances"]  # the same rows as `items`, for the page
    return found


@router.get("/video/{video_id}", summary="A video: scan status or error, frames, faces, tags")
def video(request: Request, video_id: int) -> dict:
    with db(request) as conn:
        found = review_queries.video_detail(conn, video_id)
    if found is None:
        raise HTTPException(404, f"no video with id {video_id}")
    for f in found["faces"]:
        _with_urls(f)
    for f in found["frames"]:
        f["url"] = f"/images/frame/{video_id}/{f['frame_index']}.jpg"
    return found


@router.post("/process/{video_id}", summary="Queue a process_videos run for this video (the daemon runs it)")
def process(request: Request, video_id: int) -> dict:
    from face_assets.db.run_queue import NotAPartition, submit_process_run

    with db(request) as conn:
        if not review_queries.video_exists(conn, video_id):
            raise HTTPException(404, f"no video with id {video_id}")
    web = state(request)
    if web.instance_factory is None:
        raise HTTPException(503, "no Dagster instance configured for this app")
    instance = web.instance_factory()
    try:
        run_id = submit_process_run(instance, video_id)
    except NotAPartition as exc:
        raise HTTPException(409, str(exc)) from None
    return {"run_id": run_id, "video_id": video_id, "status": "queued"}


@router.get("/failed", summary="Videos whose face scan failed, with the error")
def failed(request: Request, limit: Limit = 50) -> dict:
    with db(request) as conn:
        return {"items": review_queries.failed_videos(conn, limit)}


# --- creators --------------------------------------------------------------------------------------------------------------


@router.get("/creators", summary="Creators whose name contains q (autocomplete)")
def creators(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict:
    with db(request) as conn:
        return {"items": review_queries.search_creators(conn, q, limit)}


@router.get("/creator/{creator_id}", summary="A creator: known faces, tagged videos, videos that may contain them")
def creator(request: Request, creator_id: int) -> dict:
    with db(request) as conn:
        found = review_queries.creator_detail(conn, creator_id)
    if found is None:
        raise HTTPException(404, f"no creator with id {creator_id}")
    found["picture_url"] = f"/images/creator/{creator_id}.jpg"
    for r in found["references"]:
        r["url"] = f"/images/reference/{r['embedding_id']}.jpg"
    for v in found["maybe_videos"]:
        v["crop_url"] = f"/images/detection/{v['best_detection_id']}.jpg"
    return found


@router.post("/creator/{creator_id}/train", summary="Re-embed the creator's pictures and re-match")
def train(request: Request, creator_id: int) -> dict:
    from face_assets.review.recognize import train_creator

    web = state(request)
    with db(request, vectors=True) as conn:
        if conn.execute("SELECT 1 FROM creators WHERE id = %s", (creator_id,)).fetchone() is None:
            raise HTTPException(404, f"no creator with id {creator_id}")
        return _outcome(train_creator(conn, web.engine(), creator_id))


@router.post("/creator/{creator_id}/references", summary="Upload a photo as a new reference face (re-matches)")
def add_reference(request: Request, creator_id: int, photo: UploadFile = File(...)) -> dict:
    from face_assets.review.recognize import add_reference as add
    from face_assets.web.uploads import decode_photo, encode_jpeg, read_limited

    content = read_limited(photo.file)
    image = decode_photo(content)
    web = state(request)
    with db(request, vectors=True) as conn:
        if conn.execute("SELECT 1 FROM creators WHERE id = %s", (creator_id,)).fetchone() is None:
            raise HTTPException(404, f"no creator with id {creator_id}")
        return _outcome(add(conn, web.engine(), creator_id, image, encode_jpeg(image)))


@router.post("/creator/{creator_id}/references/{embedding_id}/remove", summary="Remove a known face of the creator")
def remove_reference(request: Request, creator_id: int, embedding_id: int) -> dict:
    from face_assets.review.recognize import remove_reference as remove

    with db(request, vectors=True) as conn:
        return _outcome(remove(conn, creator_id, embedding_id))


@router.delete(
    "/creator/{creator_id}/faces",
    summary="Forget a creator's faces for good: every face, reference, crop and frame of theirs, the tags face "
    "recognition or a review gave them (legacy tags stay); they are never learned or proposed again",
)
def forget_creator(request: Request, creator_id: PathId) -> dict:
    from face_assets.review.forget import forget_creator as forget

    with db(request, vectors=True) as conn:
        return forget(conn, creator_id).as_json()


@router.post("/recognize", summary="Who is in this photo, and in which videos (optional scope: a path prefix)")
async def recognize(
    request: Request, photo: UploadFile = File(...), scope: Annotated[str | None, Form(max_length=4096)] = None
) -> dict:
    from starlette.concurrency import run_in_threadpool

    from face_assets.review.recognize import detect_photo, recognize_faces
    from face_assets.web.inference import limiter
    from face_assets.web.uploads import decode_photo, read_limited

    web = state(request)

    def detect():  # decoding and the model wait for a slot of the bounded inference pool, off the event loop
        image = decode_photo(read_limited(photo.file))
        return image, detect_photo(web.engine(), image)  # no face at first: the second pass

    def lookup(found):
        with db(request, vectors=True) as conn:
            return recognize_faces(conn, found, scope=scope)

    image, found = await limiter(request).run(detect)
    faces = await run_in_threadpool(lookup, found)
    for f in faces:
        for v in f.videos:
            v["crop_url"] = f"/images/detection/{v['best_detection_id']}.jpg"
    return {
        "faces": [f.as_json() for f in faces],
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "scope": scope,
    }


# --- clusters ----------------------------------------------------------------------------------------------------------------


@router.get("/clusters", summary="Clusters of unknown faces, largest first (keyset-paginated)")
def clusters(
    request: Request,
    status: Annotated[str, Query(pattern="^(open|named|merged|dissolved|ignored)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 24,
    cursor: str | None = None,
) -> dict:
    with db(request) as conn:
        page = review_queries.clusters_page(conn, status, limit, cursor)
    out = _page(page)
    for card in out["items"]:
        card["crop_url"] = f"/images/cluster/{card['id']}.jpg"
        card["sample_urls"] = [f"/images/detection/{i}.jpg" for i in card["sample_detection_ids"]]
    return out


@router.get("/cluster/{cluster_id}", summary="A cluster: its faces (keyset-paginated) and videos")
def cluster(
    request: Request, cluster_id: int, limit: Annotated[int, Query(ge=1, le=500)] = 60, cursor: str | None = None
) -> dict:
    with db(request) as conn:
        found = review_queries.cluster_detail(conn, cluster_id, limit, cursor)
    if found is None:
        raise HTTPException(404, f"no cluster with id {cluster_id}")
    for f in found["faces"]:
        _with_urls(f)
    return found


@router.delete(
    "/cluster/{cluster_id}",
    summary="Forget a cluster of unknown faces for good: its faces, their crops and frames, the cluster; never again",
)
def forget_cluster(request: Request, cluster_id: PathId) -> dict:
    from face_assets.review.forget import forget_cluster as forget

    with db(request, vectors=True) as conn:
        return forget(conn, cluster_id).as_json()


@router.post("/cluster/{cluster_id}/name", summary="Name a cluster: a new creator, or an existing one")
def name_cluster(request: Request, cluster_id: int, body: NameBody) -> dict:
    with db(request, vectors=True) as conn:
        return _outcome(review.name_cluster(conn, cluster_id, body.name, existing=body.existing))


@router.post("/cluster/{cluster_id}/merge", summary="Cluster `other` is the same person: it goes into this one")
def merge_clusters(request: Request, cluster_id: int, body: MergeBody) -> dict:
    with db(request, vectors=True) as conn:
        return _outcome(review.merge_clusters(conn, cluster_id, body.other))


@router.post("/cluster/{cluster_id}/ignore", summary="Ignore a cluster (nobody to name)")
def ignore_cluster(request: Request, cluster_id: int) -> dict:
    with db(request) as conn:
        return _outcome(review.ignore_cluster(conn, cluster_id))


@router.post("/cluster/{cluster_id}/remove", summary="Faces that are someone else leave the cluster")
def remove_faces(request: Request, cluster_id: int, body: RemoveFacesBody) -> dict:
    with db(request) as conn:
        return _outcome(review.remove_from_cluster(conn, cluster_id, body.detection_ids))


# --- stats and settings --------------------------------------------------------------------------------------------------------


@router.get("/stats", summary="The counts of face_recognition_stats")
def stats(request: Request) -> dict:
    with db(request) as conn:
        return review_stats.recognition_stats(conn)


@router.get("/config", summary="Thresholds and frames per video, as in force for the model")
def get_config(request: Request) -> dict:
    with db(request) as conn:
        return config_store.current(conn)


@router.patch("/config", summary="Change thresholds / frames per video (validated; nothing written on an error)")
def patch_config(request: Request, body: ConfigPatch) -> dict:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise HTTPException(422, "no setting to change")
    with db(request) as conn:
        try:
            return config_store.save(conn, changes)
        except config_store.ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
