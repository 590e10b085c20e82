"""The legacy SQLite database the migration reads (FACE_ASSETS_LEGACY_DB)."""

from dagster import Definitions, definitions

from face_assets.resources.legacy_database import LegacyDatabase


@definitions
def resources() -> Definitions:
    return Definitions(resources={"legacy": LegacyDatabase()})
