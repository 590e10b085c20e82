"""`face-assets calibrate ...`: its arguments, and running it: measure a calibration (on a pair set or the library's
decisions, face_assets.recognition.calibration_measure), print it, write a report, store it with `--apply`
(face_assets.recognition.calibration_store)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from face_assets import settings
from face_assets.db import embedded_postgres
from face_assets.db import instance as instance_env
from face_assets.db.connection import connect
from face_assets.recognition.calibration_measure import calibrate_library, calibrate_pairs, library_lines
from face_assets.recognition.calibration_store import apply_calibration, config_key, suggested_settings


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pairs", type=Path, help="a pair file in LFW's format (folds<TAB>n, then pair lines)")
    source.add_argument(
        "--from-library",
        action="store_true",
        help="learn from the library's decisions (confirmed and rejected faces, tags)",
    )
    parser.add_argument("--images", type=Path, help="with --pairs: the photos, <images>/<name>/<name>_<NNNN>.jpg")
    parser.add_argument("--report", type=Path, help="write the measurements to this JSON file")
    parser.add_argument(
        "--apply", action="store_true", help="store the calibration for the configured model in face_recognition_config"
    )
    parser.add_argument(
        "--pairs-only",
        action="store_true",
        help="with --pairs: distributions from the photos the pairs name only (default: every "
        "photo under --images, many more impostor pairs)",
    )


def run(args) -> int:
    """`face-assets calibrate ...`: measure, print, optionally write a report and store the calibration."""
    if args.pairs is not None:
        if args.images is None:
            print("error: --pairs needs --images (the folder of <name>/<name>_<NNNN>.jpg photos)")
            return 2
        # Imported here: onnxruntime takes seconds to load, and every `face-assets` command imports this module.
        from face_assets.engine.face_engine import FaceEngine

        engine = FaceEngine()
        print(
            f"embedding the photos with {engine.model_name} (cached under {settings.home() / 'calibration_cache'})",
            flush=True,
        )

        def progress(done: int, total: int) -> None:
            if done == total or done % 1024 < 32:
                print(f"  {done}/{total} photos embedded", flush=True)

        try:
            report = calibrate_pairs(engine, args.pairs, args.images, all_photos=not args.pairs_only, progress=progress)
        except (FileNotFoundError, ValueError) as exc:  # a missing photo or pair file, a malformed line
            print(f"error: {exc}")
            return 2
        cal, lines, payload = report.calibration, report.lines(), report.to_dict()
    else:
        cal = None
    if args.apply or args.from_library:
        instance_env.prepare()  # like the other database commands: the embedded server started when needed
        try:
            with connect(embedded_postgres.app_database_url()) as conn:
                if cal is None:
                    cal = calibrate_library(conn, settings.model_name())
                    lines, payload = (
                        library_lines(cal),
                        {"model": cal.model, "date": cal.created_at, "source": cal.source, **cal.to_dict()},
                    )
                    if args.apply and not cal.details["enough_to_apply"]:
                        _emit(lines, payload, args.report)
                        print("not applied")
                        return 3
                if args.apply:
                    applied = apply_calibration(conn, cal)
        except psycopg.errors.UndefinedTable as exc:
            print(f"error: {exc.diag.message_primary}: the face tables are not there yet (run `face-assets run` first)")
            return 2
    _emit(lines, payload, args.report)
    if args.apply:
        print(
            f"applied: face_recognition_config {config_key(cal.model)!r} ({cal.source}, {cal.created_at})"
            + "".join(f", {cal.model}.{k} = {v:g}" for k, v in applied.items())
        )
    else:
        print(
            "suggested settings: "
            + (", ".join(f"{k} {v:g}" for k, v in suggested_settings(cal).items()) or "none (too few impostor pairs)")
        )
    return 0


def _emit(lines: list[str], payload: dict, report: Path | None) -> None:
    for line in lines:
        print(line)
    if report is not None:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(payload, indent=1, default=str) + "\n")
        print(f"report: {report}")
