"""The legacy SQLite database the migration reads (FACE_ASSETS_LEGACY_DB): LegacyDatabase."""

from __future__ import annotations

from dagster import ConfigurableResource, Definitions, definitions
from pydantic import Field

from face_assets import settings
from face_assets.migration.legacy_schema import LegacySchema
from face_assets.settings import PathMap


class LegacyDatabase(ConfigurableResource):
    """Where the legacy app's SQLite file is and how its file paths map onto this machine.

    `path` defaults to FACE_ASSETS_LEGACY_DB and `path_map` to FACE_ASSETS_PATH_MAP."""

    path: str | None = Field(default_factory=lambda: str(settings.legacy_db()) if settings.legacy_db() else None)
    path_map: str | None = Field(default_factory=settings.path_map_spec)

    def schema(self) -> LegacySchema:
        if not self.path:
            raise ValueError("no legacy database configured: set FACE_ASSETS_LEGACY_DB to the legacy SQLite file")
        return LegacySchema.read(self.path)

    def paths(self) -> PathMap:
        return PathMap.parse(self.path_map)


@definitions
def resources() -> Definitions:
    return Definitions(resources={"legacy": LegacyDatabase()})
