"""`creator_pictures_sensor`: requests a `creator_embeddings` run when profile pictures or reference images change.

Cheap: it only stats files (face_assets.recognition.embeddings.picture_changes): a picture without an embedding,
one whose size, mtime or model differ from its stored fingerprint, or an embedding whose picture is gone. The
run_key is a digest of those changes, so one set of changes gives one run, whatever the tick; the cursor holds the
last digest, so an unchanged set (e.g. a picture without a face, which never gets an embedding) is skipped
without asking Dagster. A run that changes nothing new leaves the same digest: no second run.
"""

import hashlib

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from face_assets.db.retries import skip_while_database_unavailable
from face_assets.defs.faces.resources import FaceEngineResource
from face_assets.defs.resources import PostgresResource
from face_assets.recognition.embeddings import picture_changes
from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model

CREATOR_EMBEDDINGS = AssetKey("creator_embeddings")
MAX_CHANGES_IN_TAGS = 5


@sensor(
    name="creator_pictures_sensor",
    asset_selection=[CREATOR_EMBEDDINGS],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Materializes creator_embeddings when a creator's profile picture or reference images change.",
)
@skip_while_database_unavailable()  # an outage skips the tick, saying so; the cursor stays
def creator_pictures_sensor(
    context: SensorEvaluationContext, database: PostgresResource, face_engine: FaceEngineResource
):
    with database.connect() as conn:
        ready = conn.execute(
            "SELECT to_regclass('creator_face_embeddings') IS NOT NULL AND to_regclass('creators') IS NOT NULL"
        ).fetchone()[0]
        if not ready:
            return SkipReason("the face tables do not exist yet (materialize face_schema)")
        try:
            check_model(conn, ModelIdentity.of_engine(face_engine))  # its runs would embed with another model
        except ModelMismatch as exc:
            return SkipReason(str(exc))
        changes = picture_changes(conn, face_engine.model_name)  # face_engine only names the model: nothing loads
    if not changes:
        context.update_cursor(None)
        return SkipReason("no new or changed creator pictures")
    lines = sorted(
        f"{c.change}\t{c.source.creator_id}\t{c.source.source_type}\t{c.source.path}\t{c.stat}" for c in changes
    )
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    if context.cursor == digest:
        return SkipReason(f"{len(changes)} picture changes already requested (run key creator-pictures-{digest[:16]})")
    context.update_cursor(digest)
    counts = {kind: sum(c.change == kind for c in changes) for kind in ("new", "changed", "removed")}
    return RunRequest(
        run_key=f"creator-pictures-{digest[:16]}",
        asset_selection=[CREATOR_EMBEDDINGS],
        tags={
            "face_assets/picture_changes": ", ".join(f"{n} {kind}" for kind, n in counts.items() if n),
            "face_assets/first_changes": "; ".join(line.split("\t")[3] for line in lines[:MAX_CHANGES_IN_TAGS])[:255],
        },
    )
