"""The code location: every asset, check, job, sensor, schedule and resource, assembled in one place."""

from __future__ import annotations

from dagster import Definitions

from face_assets.assets.face_schema import face_schema
from face_assets.assets.legacy_migration import build_legacy_assets
from face_assets.resources.database import PostgresResource
from face_assets.resources.legacy_database import LegacyDatabase
from face_assets import settings


def build_definitions() -> Definitions:
    return Definitions(
        assets=[*build_legacy_assets(), face_schema],
        resources={
            "database": PostgresResource(url=settings.database_url()),
            "legacy": LegacyDatabase(),
        },
    )


defs = build_definitions()
