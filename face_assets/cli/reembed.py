"""`face-assets reembed --model NAME`: change the database's model (face_assets.recognition.reembed), as Dagster runs
on this project's instance (progress in the UI: asset `reembedded_faces`, job `model_switch_job`).

Without --model it says where things stand (the database's model, a change in progress); `--cancel` gives up a change
in progress. Run again after an interruption, the same command resumes: the faces staged so far are kept.
"""

from __future__ import annotations

import argparse
import sys

EXIT_CONFIG = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="the model pack to re-embed with: a pack name (in FACE_ASSETS_MODEL_ROOT/models/) or a pack folder",
    )
    parser.add_argument(
        "--model-root",
        default=None,
        help="the folder holding models/<name>/ (default FACE_ASSETS_MODEL_ROOT)",
    )
    parser.add_argument("--cancel", action="store_true", help="give up the change of model in progress")


def _target_problems(name: str, root: str) -> list[str]:
    """Why the pack cannot be used to embed (missing and not downloadable, unloadable), or []. May download it."""
    from face_assets import settings
    from face_assets.cli import preflight
    from face_assets.recognition.model_record import ModelIdentity

    if ModelIdentity.of(name, root).fingerprint is not None:
        return []
    folder = preflight.model_folder(name, root)
    if not (settings.allow_model_download() and name in preflight.DOWNLOADABLE_PACKS):
        return [
            f"--model {name}: no model pack in {folder}: give the pack's folder, or its name with --model-root (or "
            "FACE_ASSETS_MODEL_ROOT) set to the folder holding models/<name>/"
        ]
    from face_assets.engine.face_engine import FaceEngine

    try:
        FaceEngine(model_name=name, model_root=root).load()  # InsightFace downloads the pack into <root>/models/
    except Exception as exc:
        return [f"--model {name}: the pack could not be downloaded or loaded ({exc}): put it in {folder}"]
    return []


def _status(conn) -> list[str]:
    from face_assets.recognition.model_record import recorded_model
    from face_assets.recognition.reembed import pending_change, progress

    recorded = recorded_model(conn)
    lines = [
        f"the database's embeddings come from {recorded.describe()} ({recorded.source})"
        if recorded
        else "the database holds no embeddings yet: the first model that writes one is recorded"
    ]
    change = pending_change(conn)
    if change is not None:
        done = progress(conn)
        lines.append(
            f"a change to {change.model.describe()} is in progress since {change.started_at:%Y-%m-%d %H:%M} "
            f"({done['embedded']} of {done['faces']} faces embedded, {done['videos_left']} video(s) left): "
            f"`face-assets reembed --model {change.folder}` resumes it, `--cancel` gives it up"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    from face_assets import settings
    from face_assets.cli import preflight
    from face_assets.db.connection import connect
    from face_assets.db.schema_upgrade import upgrade
    from face_assets.recognition.model_record import ModelIdentity, recorded_model, same_model
    from face_assets.recognition.reembed import cancel_change, start_change

    url, problems = preflight.check_database()
    root = args.model_root or settings.model_root()
    if args.model and not problems:
        problems += _target_problems(args.model, root)
    if problems:
        for line in problems:
            print(f"face-assets: {line}", file=sys.stderr)
        print("face-assets: nothing was started", file=sys.stderr)
        return EXIT_CONFIG

    with connect(url) as conn:
        upgrade(conn)
        if args.cancel:
            change = cancel_change(conn)
            print(f"gave up the change to {change.model.describe()}" if change else "no change of model in progress")
            return 0
        if not args.model:
            print("\n".join(_status(conn)))
            return 0
        target = ModelIdentity.of(args.model, root)
        recorded = recorded_model(conn)
        if recorded is not None and same_model(recorded, target):
            given_up = cancel_change(conn)
            print(
                f"the database's embeddings come from {target.describe()} already: nothing to do"
                + (f" (gave up the change to {given_up.model.describe()})" if given_up else "")
            )
            return 0
        change, resumed = start_change(conn, target)
    print(
        f"{'resuming the' if resumed else 'started a'} change from "
        f"{recorded.describe() if recorded else 'no model'} to {change.model.describe()} ({change.folder})",
        flush=True,
    )
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        ok = reembed_and_switch(instance, url)
    if ok:
        print(f"done: from now on set {_settings_for(change.folder)} for `face-assets run`, `dev` and `serve`")
        return 0
    print("face-assets: the change is not finished; the same command resumes it", file=sys.stderr)
    return 1


def _settings_for(folder: str) -> str:
    """The environment that names the pack in `folder`: FACE_ASSETS_MODEL (and _MODEL_ROOT), as a person sets them."""
    from pathlib import Path

    pack = Path(folder)
    if pack.parent.name == "models":
        return f"FACE_ASSETS_MODEL={pack.name} FACE_ASSETS_MODEL_ROOT={pack.parent.parent}"
    return f"FACE_ASSETS_MODEL={pack}"


def reembed_and_switch(instance, url: str) -> bool:
    """Run `reembedded_faces` over the videos with faces left to embed (50 a run), then `model_switch_job`, in
    process on `instance`; print the progress and what the switch did. Whether everything succeeded."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from face_assets.cli.runner import LOG_INFO, _execute, chunks
    from face_assets.db.connection import connect
    from face_assets.definitions import build_definitions
    from face_assets.defs.faces.reembed import REEMBEDDED_FACES, SWITCH_JOB_NAME
    from face_assets.defs.library.assets import MAX_PARTITIONS_PER_RUN
    from face_assets.defs.library.partitions import video_partitions
    from face_assets.recognition.reembed import progress, videos_to_embed

    defs = build_definitions()
    with connect(url) as conn:
        todo = [str(v) for v in videos_to_embed(conn)]
        done = progress(conn)
    print(f"faces: {done['embedded']} of {done['faces']} embedded by the new model, {len(todo)} video(s) to go")
    known = instance.get_dynamic_partitions(video_partitions.name)
    missing = [k for k in todo if k not in set(known)]
    if missing:  # e.g. a restored database on a new machine: the library sensor has not added them yet
        instance.add_dynamic_partitions(video_partitions.name, missing)
        known = instance.get_dynamic_partitions(video_partitions.name)
    order = {k: i for i, k in enumerate(known)}
    ok = True
    for batch in chunks(sorted(todo, key=order.__getitem__), MAX_PARTITIONS_PER_RUN):
        # A range of consecutive partitions: the videos between without anything to embed are skipped by the asset.
        tags = {ASSET_PARTITION_RANGE_START_TAG: batch[0], ASSET_PARTITION_RANGE_END_TAG: batch[-1]}
        ok = _execute(defs, "face_assets_cli_reembed", [REEMBEDDED_FACES], tags=tags, instance=instance) and ok
        with connect(url) as conn:
            done = progress(conn)
        print(
            f"faces: {done['embedded']} of {done['faces']} embedded by the new model, {done['videos_left']} video(s) "
            "left",
            flush=True,
        )
    if not ok:
        return False
    result = defs.resolve_job_def(SWITCH_JOB_NAME).execute_in_process(
        instance=instance, raise_on_error=False, run_config=LOG_INFO
    )
    for node in ("switch_to_new_model", "refresh_after_model_switch"):
        if result.is_node_success(node):
            print("\n".join(result.output_for_node(node)["lines"]))
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"failed: {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
    return result.success
