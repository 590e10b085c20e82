"""The code location: every asset, check, job, sensor, schedule and resource under face_assets/defs, loaded in one
place. Each domain keeps its wiring side by side in `defs/<domain>/` (see face_assets/defs/__init__.py)."""

from dagster import Definitions
from dagster.components import load_defs

from face_assets import defs as defs_package


def build_definitions() -> Definitions:
    return load_defs(defs_root=defs_package)


defs = build_definitions()
