"""Configuration checked before anything starts: `face-assets run`, `dev` and `serve` call `check_or_exit`.

Each check returns problems, one line each, saying what is wrong and which variable or command fixes it. A user's
mistake then costs one short message and exit status 2, not a Dagster run that fails (and retries) deep inside a
step with a stack trace.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from face_assets import settings
from face_assets.migration.legacy_schema import read_only

EXIT_CONFIG = 2

# The legacy tables the face pipeline reads after the migration; a file without them is not the legacy app's.
REQUIRED_LEGACY_TABLES = ("watched_directories", "videos", "creators", "video_creators")
# Packs InsightFace publishes for download (ensure_available fetches <name>.zip from its release page).
DOWNLOADABLE_PACKS = ("buffalo_l", "buffalo_m", "buffalo_s", "buffalo_sc", "antelopev2")
MIN_SERVER_VERSION = 160000  # PostgreSQL 16
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Needs:
    """What the selected work needs besides the application database (always needed)."""

    legacy: bool = False  # the legacy SQLite file (the migration assets)
    library: bool = False  # library roots (scanning, frames)
    model: bool = False  # the InsightFace model pack (detections, creator embeddings)
    library_root_required: bool = True  # with `library`: some root must exist, not only the configured ones be right
    same_model: bool = False  # the configured model must be the one the database's embeddings came from

    @classmethod
    def everything(cls) -> Needs:
        return cls(legacy=True, library=True, model=True, same_model=True)

    @classmethod
    def for_dev(cls) -> Needs:
        # The UI is where a new user starts: before the migration has run there are no watched directories yet,
        # and the library sensor says in its skip reason which roots are missing. So only what is configured is
        # checked (a wrong legacy path or FACE_ASSETS_LIBRARY entry is still reported), and the model the
        # sensors' runs will load.
        return cls(legacy=False, library=True, model=True, library_root_required=False, same_model=True)

    @classmethod
    def for_serve(cls) -> Needs:
        return cls(same_model=True)  # recognize and search by photo embed with the configured model


def needs_for_selection(selection: str | None) -> tuple[Needs, list[str]]:
    """What `face-assets run --select SELECTION` needs, from the resources its assets require.

    Returns (needs, problems): an unparsable selection is a problem of its own."""
    if not selection:
        return Needs.everything(), []
    from dagster import AssetSelection

    from face_assets.definitions import build_definitions

    try:
        graph = build_definitions().resolve_asset_graph()
        keys = AssetSelection.from_string(selection).resolve(graph)
    except Exception as exc:  # Dagster raises several types for a bad selection string
        return Needs(), [
            f"--select {selection!r} is not a valid asset selection ({_first_line(exc)}): "
            "see `face-assets dagster asset list` for the asset keys"
        ]
    legacy = library = model = False
    for key in keys:
        node = graph.get(key)
        resources = set(node.assets_def.required_resource_keys) if node.is_materializable else set()
        legacy |= "legacy" in resources
        model |= "face_engine" in resources
        library |= node.partitions_def is not None
    return Needs(legacy=legacy, library=library, model=model, same_model=model), []


# --- the checks ------------------------------------------------------------------------------------------


def check_settings() -> list[str]:
    """Values that must parse, whatever runs."""
    problems = []
    try:
        settings.path_map()
    except ValueError as exc:
        problems.append(f"{exc}: set FACE_ASSETS_PATH_MAP to OLD_PREFIX=NEW_PREFIX[;OLD=NEW...]")
    try:
        settings.sensor_interval_seconds()
    except ValueError as exc:
        problems.append(f"{exc}: set FACE_ASSETS_SENSOR_INTERVAL to a number of seconds, or unset it (30)")
    return problems


def check_legacy(required: bool) -> list[str]:
    path = settings.legacy_db()
    if path is None:
        if not required:
            return []
        return [
            "no legacy database configured: set FACE_ASSETS_LEGACY_DB to the legacy app's SQLite file "
            "(or run `make demo` to try a demo library), or --select only assets after the migration"
        ]
    where = f"FACE_ASSETS_LEGACY_DB={path}"
    if not path.exists():
        return [f"{where}: no such file: set FACE_ASSETS_LEGACY_DB to the legacy app's SQLite file"]
    if not path.is_file():
        return [f"{where}: not a file: set FACE_ASSETS_LEGACY_DB to the legacy app's SQLite file, not a folder"]
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        return [f"{where}: cannot be read ({exc.strerror}): give this user read access to it"]
    if header != SQLITE_HEADER:
        return [f"{where}: not an SQLite database: set FACE_ASSETS_LEGACY_DB to the legacy app's SQLite file"]
    try:
        with read_only(path) as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        return [f"{where}: SQLite cannot read it ({exc}): set FACE_ASSETS_LEGACY_DB to an intact copy"]
    missing = [t for t in REQUIRED_LEGACY_TABLES if t not in tables]
    if missing:
        return [
            f"{where}: has no table {', '.join(missing)}, so it is not the legacy video app's database: "
            "set FACE_ASSETS_LEGACY_DB to the app's SQLite file"
        ]
    return []


def legacy_watched_directories() -> list[tuple[str, bool]]:
    """(path after FACE_ASSETS_PATH_MAP, active) of the legacy file's watched directories; [] when unreadable."""
    path = settings.legacy_db()
    if path is None or check_legacy(required=True):
        return []
    try:
        mapping = settings.path_map()
        with read_only(path) as conn:
            rows = conn.execute("SELECT path, coalesce(is_active, 1) FROM watched_directories").fetchall()
    except (sqlite3.Error, ValueError):
        return []
    return [(mapping.apply(p), bool(active)) for p, active in rows if p]


def migrated_watched_directories(url: str) -> list[tuple[str, bool]] | None:
    """The application database's watched directories (already mapped); None before the migration."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            if conn.execute("SELECT to_regclass('watched_directories')").fetchone()[0] is None:
                return None
            rows = conn.execute("SELECT path, coalesce(is_active, true) FROM watched_directories").fetchall()
    except psycopg.Error:
        return None
    return [(p, bool(active)) for p, active in rows]


def library_roots(database_url: str | None = None) -> list[tuple[str, str]]:
    """(root, where it comes from) for every library root the scan will use."""
    roots: list[tuple[str, str]] = []
    watched = migrated_watched_directories(database_url) if database_url else None
    source = "watched directory (application database)"
    if watched is None:
        watched = legacy_watched_directories()
        source = "watched directory (legacy database, after FACE_ASSETS_PATH_MAP)"
    roots += [(p, source) for p, active in watched if active]
    roots += [(str(p), "FACE_ASSETS_LIBRARY") for p in settings.library_roots_from_env()]
    return roots


def check_library(
    database_url: str | None = None, legacy_reported: bool = False, require_root: bool = True
) -> list[str]:
    """`legacy_reported`: a problem with the legacy file was already reported; before the migration the roots come
    from that file, so "no root" would only repeat it. `require_root=False`: only what is configured is checked
    (path map targets, FACE_ASSETS_LIBRARY entries), not that some root exists."""
    problems = []
    try:
        pairs, map_broken = settings.path_map().pairs, False
    except ValueError:
        pairs, map_broken = (), True  # reported by check_settings; without it the legacy roots are unknown too
    for old, new in pairs:
        if not Path(new).expanduser().is_dir():
            problems.append(
                f"FACE_ASSETS_PATH_MAP maps {old} to {new}, which is not a folder: fix the NEW_PREFIX "
                "of that entry (where the library is mounted on this machine)"
            )
    for root in settings.library_roots_from_env():
        if not root.is_dir():
            problems.append(
                f"FACE_ASSETS_LIBRARY: {root} is not a folder: remove it from FACE_ASSETS_LIBRARY "
                "or mount the library there"
            )
    if not require_root:
        return problems
    roots = library_roots(database_url)
    if not (problems or legacy_reported or map_broken) and not any(Path(r).is_dir() for r, _ in roots):
        if roots:
            listed = ", ".join(r for r, _ in roots)
            problems.append(
                f"no library root exists (looked for {listed}): set FACE_ASSETS_PATH_MAP=OLD=NEW so the "
                "legacy watched directories point at your library, or FACE_ASSETS_LIBRARY to its folder"
            )
        else:
            problems.append(
                "no library root is configured (no active watched directory): set FACE_ASSETS_LIBRARY "
                "to the folder of your videos"
            )
    return problems


def model_folder(name: str | None = None, root: str | None = None) -> Path:
    """Where the pack must be: <root>/models/<name>, or `name` itself when it is a path (as FaceEngine reads it)."""
    name = name or settings.model_name()
    root = root or settings.model_root()
    if os.sep in name or name.startswith("~"):
        return Path(name).expanduser()
    return Path(root).expanduser() / "models" / name


def check_model() -> list[str]:
    name = settings.model_name()
    folder = model_folder()
    problems = []
    if folder.is_dir():
        if not any(folder.glob("*.onnx")):
            problems.append(
                f"model pack folder {folder} holds no .onnx files: point FACE_ASSETS_MODEL_ROOT at the "
                f"folder that contains models/{name}/ with the pack's .onnx files"
            )
    elif os.sep in name or name.startswith("~"):
        problems.append(
            f"FACE_ASSETS_MODEL={name}: no such folder: set it to a pack folder holding .onnx files, "
            "or to a pack name (e.g. buffalo_l)"
        )
    elif not settings.allow_model_download():
        problems.append(
            f"model pack {name} not found in {folder} and downloads are off "
            f"(FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=0): set FACE_ASSETS_MODEL_ROOT to the folder that "
            f"contains models/{name}/ (e.g. ../shared/fixtures with FACE_ASSETS_MODEL=buffalo_sc), "
            "or FACE_ASSETS_ALLOW_MODEL_DOWNLOAD=1 to let InsightFace download it"
        )
    elif name not in DOWNLOADABLE_PACKS:
        problems.append(
            f"model pack {name} not found in {folder}, and InsightFace only downloads "
            f"{', '.join(DOWNLOADABLE_PACKS)}: set FACE_ASSETS_MODEL to one of those, or "
            f"FACE_ASSETS_MODEL_ROOT to the folder that contains models/{name}/"
        )
    else:
        host, port = download_site()
        error = unreachable(host, port)
        if error:
            problems.append(
                f"model pack {name} not found in {folder}, and InsightFace cannot download it: its "
                f"download site {host} is not reachable from this machine ({error}): set "
                f"FACE_ASSETS_MODEL_ROOT to the folder that contains models/{name}/ (e.g. "
                "../shared/fixtures with FACE_ASSETS_MODEL=buffalo_sc), or run where it can be reached"
            )
    problems += check_providers()
    return problems


def download_site() -> tuple[str, int]:
    """Host and port InsightFace downloads model packs from (its own constant, so the two never disagree)."""
    from urllib.parse import urlsplit

    from insightface.utils.storage import BASE_REPO_URL

    url = urlsplit(BASE_REPO_URL)
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


def unreachable(host: str, port: int, timeout: float = 5.0) -> str | None:
    """Why a TCP connection to host:port fails (None when it opens). Behind a proxy the download goes through the
    proxy, which this cannot judge: then nothing is reported."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return str(exc) or type(exc).__name__
    return None


def check_providers() -> list[str]:
    import onnxruntime

    from face_assets.engine.providers import select_providers

    available = onnxruntime.get_available_providers()
    try:
        select_providers(settings.providers(), available)
    except ValueError:
        return [
            f"FACE_ASSETS_PROVIDERS={settings.providers()}: none of these ONNX Runtime providers is installed "
            f"(installed: {', '.join(available)}): set FACE_ASSETS_PROVIDERS=auto, or install the matching "
            "runtime (`make install-rocm` / `make install-cuda`)"
        ]
    return []


def hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: show no part of it that could hold a password
        return url.split("@")[-1] if "@" in url else url


def psycopg_url(url: str) -> str:
    """A URL psycopg accepts (Dagster's storage URL may name the psycopg2 driver)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class ServerFacts:
    url: str
    server_version: str
    server_version_num: int
    vector_installed: str | None  # version of the extension in this database
    vector_available: str | None  # default version the server offers


def server_facts(url: str, extension: str = "vector") -> ServerFacts:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        version, num = conn.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int"
        ).fetchone()
        row = conn.execute(
            "SELECT installed_version, default_version FROM pg_available_extensions WHERE name = %s", (extension,)
        ).fetchone()
    return ServerFacts(url, version, num, *(row or (None, None)))


def app_database_url() -> tuple[str | None, list[str]]:
    """The application database's URL (starting the embedded server when DATABASE_URL is unset), or the problem."""
    url = settings.database_url()
    if url:
        return url, []
    from face_assets.db import embedded_postgres

    try:
        return embedded_postgres.app_database_url(), []
    except embedded_postgres.DataVersionMismatch as exc:
        return None, [str(exc)]
    except Exception as exc:
        return None, [
            f"the embedded PostgreSQL in {embedded_postgres.pgdata_dir()} did not start "
            f"({_first_line(exc)}): see `face-assets db start`, check free disk and permissions in "
            "FACE_ASSETS_HOME, or set DATABASE_URL to a PostgreSQL 16+ with pgvector"
        ]


def check_database(extension: str = "vector") -> tuple[str | None, list[str]]:
    """Returns (the application database URL when it is usable, problems)."""
    import psycopg

    url, problems = app_database_url()
    if url is None:
        return None, problems
    external = settings.database_url() is not None
    where = f"DATABASE_URL={hide_password(url)}" if external else f"the embedded PostgreSQL ({hide_password(url)})"
    otherwise = ", or unset DATABASE_URL to use the embedded PostgreSQL" if external else ""
    try:
        facts = server_facts(url, extension)
    except psycopg.Error as exc:
        return None, [
            f"{where}: cannot connect ({_first_line(exc)}): check that the server runs and the URL's "
            f"host, port, user, password and database{otherwise}"
        ]
    if facts.server_version_num < MIN_SERVER_VERSION:
        problems.append(f"{where}: PostgreSQL {facts.server_version} is too old: use PostgreSQL 16 or newer{otherwise}")
    if facts.vector_installed is None and facts.vector_available is None:
        problems.append(
            f"{where}: the pgvector extension ({extension}) is not available on that server: install "
            f"pgvector there (CREATE EXTENSION {extension} must work){otherwise}"
        )
    problems += check_schema_version(url)
    dagster_url = settings.dagster_database_url()
    if dagster_url:
        try:
            server_facts(psycopg_url(dagster_url), extension)
        except psycopg.Error as exc:
            problems.append(
                f"FACE_ASSETS_DAGSTER_DATABASE_URL={hide_password(dagster_url)}: cannot connect "
                f"({_first_line(exc)}): fix it, or unset it to keep Dagster's storage in database "
                "`dagster` on the application's server"
            )
    return (url if not problems else None), problems


def check_schema_version(url: str) -> list[str]:
    """A database upgraded by a newer face_assets is refused (no downgrades); an older one is upgraded on first use."""
    import psycopg

    from face_assets.db import schema_upgrade

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            schema_upgrade.check_not_newer(conn)
    except schema_upgrade.SchemaTooNew as exc:
        return [str(exc)]
    except psycopg.Error:
        return []  # the connection problem is reported by check_database
    return []


def check_same_model(url: str) -> list[str]:
    """The configured model against the one the database's embeddings came from (one line when they differ)."""
    import psycopg

    from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            check_model(conn, ModelIdentity.of())
    except ModelMismatch as exc:
        return [str(exc)]
    except psycopg.Error:
        return []  # the connection problem is reported by check_database
    return []


def problems(needs: Needs) -> list[str]:
    """Every problem for `needs`, cheapest checks first; the database is always checked."""
    found = check_settings()
    legacy_problems = check_legacy(required=needs.legacy)
    found += legacy_problems
    model_problems = check_model() if needs.model else []
    url, db_problems = check_database()
    mismatch = check_same_model(url) if needs.same_model and url is not None else []
    # Another model than the database's: that line alone (what the configured pack lacks would only mislead).
    found += mismatch or model_problems
    found += db_problems
    if needs.library:
        found += check_library(url, legacy_reported=bool(legacy_problems), require_root=needs.library_root_required)
    return _unique(found)


def check_or_exit(needs: Needs = Needs(), selection_problems: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Print one line per problem and exit with status 2 when there is any; return quietly otherwise.

    `face-assets serve` calls `check_or_exit(Needs.for_serve())` (the database only)."""
    found = list(selection_problems) or problems(needs)
    if not found:
        return
    out = stream or sys.stderr
    for line in found:
        print(f"face-assets: {line}", file=out)
    print("face-assets: nothing was started; `face-assets doctor` shows the whole configuration", file=out)
    raise SystemExit(EXIT_CONFIG)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))
