"""The code location: every asset, check, job, sensor, schedule and resource, assembled in one place."""

from dagster import Definitions

from face_assets.assets.clusters import face_clusters
from face_assets.assets.detections import face_detections
from face_assets.assets.embeddings import creator_embeddings
from face_assets.assets.face_schema import face_schema
from face_assets.assets.frames import sampled_frames
from face_assets.assets.legacy_migration import build_legacy_assets
from face_assets.assets.matches import face_matches
from face_assets.assets.stats import face_recognition_stats
from face_assets.jobs import process_videos
from face_assets.picture_sensor import creator_pictures_sensor
from face_assets.resources.database import PostgresResource
from face_assets.resources.face_engine import FaceEngine
from face_assets.resources.legacy_database import LegacyDatabase
from face_assets.schedules import rematch_job, rematch_schedule
from face_assets.sensors import library_sensor


def build_definitions() -> Definitions:
    return Definitions(
        assets=[
            *build_legacy_assets(),
            face_schema,
            creator_embeddings,
            sampled_frames,
            face_detections,
            face_matches,
            face_clusters,
            face_recognition_stats,
        ],
        jobs=[process_videos, rematch_job],
        sensors=[library_sensor, creator_pictures_sensor],
        schedules=[rematch_schedule],
        resources={
            # No URL in the config: DATABASE_URL is read when a step runs, so no password lands in Dagster's storage.
            "database": PostgresResource(),
            "legacy": LegacyDatabase(),
            "face_engine": FaceEngine(),
        },
    )


defs = build_definitions()
