"""`face-assets`: the command line (database, runs, the UI, review). Other tools drive the project through it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from face_assets import settings

REPO = Path(__file__).resolve().parents[2]


def _dagster_executable(name: str = "dagster") -> str:
    """The dagster (or dg) CLI of this environment (the venv's bin may not be on PATH)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def cmd_db(args: argparse.Namespace) -> int:
    from face_assets.db import embedded_postgres

    if settings.database_url() and args.action != "url":
        print(f"DATABASE_URL is set: the embedded server is not used ({args.action} does nothing)")
        return 0
    if args.action == "start":
        embedded_postgres.start()
        print(embedded_postgres.app_database_url())
    elif args.action == "stop":
        print("stopped" if embedded_postgres.stop() else "not running")
    elif args.action == "status":
        running = embedded_postgres.is_running()
        print(f"embedded PostgreSQL in {embedded_postgres.pgdata_dir()}: {'running' if running else 'stopped'}")
        return 0 if running else 3
    elif args.action == "url":
        print(embedded_postgres.app_database_url())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from face_assets.cli import preflight
    from face_assets.db import instance as instance_env

    needs, selection_problems = preflight.needs_for_selection(args.select)
    preflight.check_or_exit(needs, selection_problems)  # exit 2 with one line per problem, before anything starts
    instance_env.prepare()
    from dagster import DagsterInstance

    from face_assets.cli.runner import run_pipeline

    with DagsterInstance.get() as instance:
        ok = run_pipeline(instance, selection=args.select, scan=True if args.scan else None)
    if ok:
        from face_assets.cli.summary import print_summary

        print_summary(args.truth)
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """`make demo`: the configured legacy database (the fixtures, via the Makefile), else the demo library."""

    truth, data = args.truth, None
    if settings.legacy_db() is None:
        from face_assets import demo

        library = demo.build()
        os.environ.update(library.environment())
        truth, data = truth or library.truth, library.description()
    else:
        data = f"the legacy database {settings.legacy_db()} (FACE_ASSETS_LEGACY_DB)"
        if settings.path_map_spec():
            data += f", paths mapped by FACE_ASSETS_PATH_MAP={settings.path_map_spec()}"
    # Through the parser, so `run`'s other options keep their defaults.
    status = cmd_run(build_parser().parse_args(["run", *(["--truth", str(truth)] if truth else [])]))
    from face_assets.cli import preflight

    print(f"\ndemo data: {data}")
    print(f"model: {settings.model_name()} in {preflight.model_folder()}")
    return status


def cmd_doctor(args: argparse.Namespace) -> int:
    from face_assets.cli import doctor

    return doctor.run()


def cmd_summary(args: argparse.Namespace) -> int:
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    from face_assets.cli.summary import print_summary

    print_summary(args.truth)
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from face_assets.cli import preflight
    from face_assets.db import instance as instance_env

    preflight.check_or_exit(preflight.Needs.for_dev())
    instance_env.prepare()
    import signal

    from face_assets.cli import processes

    dagster_ui = f"http://{args.host}:{args.port}"
    children = []
    # Stopped by a service manager (SIGTERM) or Ctrl-C: stop everything within 10 s (face_assets.cli.processes).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.review_port:
            # The review app beside the UI, in its own process; it goes when `dagster dev` goes.
            children.append(
                processes.spawn_group(
                    [
                        sys.executable,
                        "-m",
                        "face_assets.cli",
                        "serve",
                        "--host",
                        args.host,
                        "--port",
                        str(args.review_port),
                        "--dagster-ui",
                        dagster_ui,
                    ]
                )
            )
            print(f"review app: http://{args.host}:{args.review_port}  Dagster UI: {dagster_ui}", flush=True)
        argv = [_dagster_executable(), "dev", "-w", str(REPO / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
        dagster = processes.spawn_group(argv)
        children.append(dagster)
        status = dagster.wait()
    except KeyboardInterrupt:
        status = 130
    except SystemExit as exc:  # SIGTERM
        status = exc.code
    finally:
        processes.ignore_stop_signals()
        # dagster dev, its webserver, daemon, code servers and run workers, the review app
        print(f"face-assets dev: {processes.stop_groups(children)}", file=sys.stderr, flush=True)
    processes.exit_now(status)


def cmd_dagster(args: argparse.Namespace) -> int:
    """Any dagster CLI command, with the instance's environment (DAGSTER_HOME, storage URL) prepared."""
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    os.execv(_dagster_executable(), ["dagster", *args.dagster_args])


def cmd_dg(args: argparse.Namespace) -> int:
    """Any dg CLI command (e.g. `check defs`), from the repository root, with the instance's environment prepared."""
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    os.chdir(REPO)
    os.environ.setdefault("VIRTUAL_ENV", sys.prefix)  # dg checks that the active venv is the project's
    os.execv(_dagster_executable("dg"), ["dg", *args.dg_args])


def cmd_calibrate(args: argparse.Namespace) -> int:
    from face_assets.cli import calibrate

    return calibrate.run(args)


def cmd_reembed(args: argparse.Namespace) -> int:
    from face_assets.cli import reembed

    return reembed.run(args)


def cmd_serve(args: argparse.Namespace) -> int:
    """The review web app (uvicorn). Refuses a non-loopback address unless FACE_ASSETS_WEB_TOKEN is set."""

    try:
        settings.check_binding(args.host, settings.web_token())
    except settings.UnsafeBinding as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from face_assets.cli import preflight
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    preflight.check_or_exit(preflight.Needs.for_serve())  # the database only: pages need no model or legacy file
    from face_assets.cli.processes import serve_uvicorn

    # The app reads its address and the Dagster UI from the environment (face_assets.web.app.serve_app).
    os.environ["FACE_ASSETS_WEB_HOST"] = args.host
    os.environ["FACE_ASSETS_DAGSTER_UI"] = args.dagster_ui
    print(f"face_assets review app on http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}")
    serve_uvicorn(  # stops within 10 s of SIGTERM or Ctrl-C, whatever a request is waiting for
        "face_assets.web.app:serve_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level="info",
        server_header=False,
    )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    from face_assets.cli import review

    return review.run(args)


def cmd_forget(args: argparse.Namespace) -> int:
    from face_assets.db import instance as instance_env

    instance_env.prepare()
    from face_assets.cli import forget

    return forget.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="face-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser(
        "db", help="the application database: the embedded PostgreSQL (when DATABASE_URL is unset), backup, restore"
    )
    from face_assets.cli.db import add_arguments as add_db_arguments

    add_db_arguments(db, server=cmd_db)

    run = sub.add_parser("run", help="materialize assets in process on the configured Dagster instance")
    run.add_argument("--select", default=None, help="Dagster asset selection, e.g. 'group:legacy_migration'")
    run.add_argument(
        "--scan",
        action="store_true",
        help="scan the library for new files first even with --select (always done without it)",
    )
    run.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="a truth.json (the fixture library's) to compare the results with in the summary",
    )
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser(
        "demo",
        help="what `make demo` runs: the whole pipeline on the configured legacy database, "
        "or on a demo library built in $FACE_ASSETS_HOME/demo when none is configured",
    )
    demo.add_argument("--truth", type=Path, default=None, help="a truth.json to compare the results with")
    demo.set_defaults(func=cmd_demo)

    doctor = sub.add_parser(
        "doctor",
        help="show what the project sees (versions, model, database, library, "
        "addresses); exit 1 naming what is missing",
    )
    doctor.set_defaults(func=cmd_doctor)

    summary = sub.add_parser("summary", help="print what the pipeline produced")
    summary.add_argument("--truth", type=Path, default=None, help="a truth.json to compare the results with")
    summary.set_defaults(func=cmd_summary)

    review = sub.add_parser("review", help="confirm, reject or assign face matches; name or merge clusters")
    from face_assets.cli.review import add_arguments as add_review_arguments

    add_review_arguments(review)
    review.set_defaults(func=cmd_review)

    forget = sub.add_parser(
        "forget", help="erase a person for good: a creator's faces or a cluster (asks first; --yes, --dry-run)"
    )
    from face_assets.cli.forget import add_arguments as add_forget_arguments

    add_forget_arguments(forget)
    forget.set_defaults(func=cmd_forget)

    calibrate = sub.add_parser(
        "calibrate", help="measure the model's error rates on a pair set (LFW format) or the library's decisions"
    )
    from face_assets.cli.calibrate import add_arguments as add_calibrate_arguments

    add_calibrate_arguments(calibrate)
    calibrate.set_defaults(func=cmd_calibrate)

    reembed = sub.add_parser(
        "reembed",
        help="change the database's model: re-embed every face and creator picture with another pack, keeping the "
        "decisions, then switch over and re-calibrate (without --model: where things stand)",
    )
    from face_assets.cli.reembed import add_arguments as add_reembed_arguments

    add_reembed_arguments(reembed)
    reembed.set_defaults(func=cmd_reembed)

    serve = sub.add_parser("serve", help="start the review web app (pages and the HTTP API)")
    serve.add_argument(
        "--host",
        default=settings.web_host(),
        help="address to bind (FACE_ASSETS_WEB_HOST, default 127.0.0.1; another needs FACE_ASSETS_WEB_TOKEN)",
    )
    serve.add_argument("--port", type=int, default=3001)
    serve.add_argument(
        "--dagster-ui",
        default=settings.dagster_ui_url(),
        help="the Dagster UI the pages link to (FACE_ASSETS_DAGSTER_UI, default http://127.0.0.1:3000)",
    )
    serve.set_defaults(func=cmd_serve)

    dev = sub.add_parser("dev", help="start the Dagster UI and daemon (dagster dev) and the review app beside them")
    dev.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    dev.add_argument(
        "--review-port",
        type=int,
        default=3001,
        help="port of the review app (face-assets serve) started beside the UI; 0: do not start it",
    )
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(func=cmd_dev)

    dagster = sub.add_parser(
        "dagster", help="run a dagster CLI command on this project's instance, e.g. `face-assets dagster asset list`"
    )
    dagster.add_argument("dagster_args", nargs=argparse.REMAINDER)
    dagster.set_defaults(func=cmd_dagster)

    dg = sub.add_parser("dg", help="run a dg CLI command on this project's instance, e.g. `face-assets dg check defs`")
    dg.add_argument("dg_args", nargs=argparse.REMAINDER)
    dg.set_defaults(func=cmd_dg)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except Exception as exc:
        from face_assets.db.embedded_postgres import DataVersionMismatch

        if not isinstance(exc, DataVersionMismatch):
            raise
        # Any command that needs the embedded server stops here, before anything starts, with what to do.
        print(f"face-assets: {exc}", file=sys.stderr)
        return 2
