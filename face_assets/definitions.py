"""The code location: every asset, check, job, sensor, schedule and resource under face_assets/defs, loaded in one
place. Each domain keeps its wiring side by side in `defs/<domain>/` (see face_assets/defs/__init__.py)."""

from pathlib import Path

from dagster import Definitions, load_from_defs_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # pyproject.toml's [tool.dg.project] names face_assets.defs


def build_definitions() -> Definitions:
    return load_from_defs_folder(path_within_project=PROJECT_ROOT)


defs = build_definitions()
