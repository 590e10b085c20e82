"""The application database, shared by every domain."""

from dagster import Definitions, definitions

from face_assets.resources.database import PostgresResource


@definitions
def resources() -> Definitions:
    # No URL in the config: DATABASE_URL is read when a step runs, so no password lands in Dagster's storage.
    return Definitions(resources={"database": PostgresResource()})
