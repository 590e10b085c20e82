"""One model per database: the model pack a database's embeddings came from, and the check every entry point makes.

Embeddings of two models cannot be compared (a cosine similarity between a buffalo_l and a buffalo_sc embedding means
nothing), so a database holds the embeddings of one model pack, recorded in `face_model` (sql/upgrades/0003_model.sql):

- its name (the pack folder's name) and fingerprint (`pack_fingerprint`: a hash of the contents of the pack's .onnx
  files, so another version of a pack under the same name is another model);
- recorded when the first embedding is written (`claim_model`, in the writing transaction: face_detections and
  creator_embeddings), or when `face-assets reembed` switches the database to another model
  (face_assets.recognition.reembed);
- a database with embeddings from before the record existed adopts the model that wrote them (the upgrade does;
  before it ran, `recorded_model` infers the same from the rows), by name: the fingerprint is filled in the first time
  a pack of that name is used with it.

`check_model` compares a model with the record and raises ModelMismatch, whose message is one line saying what to do.
The same fingerprint is the same model whatever its name (a pack copied under another name, or named by its folder);
the same name with another fingerprint is another model. A pack that is not on this machine is compared by name:
nothing is downloaded to check it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from face_assets import settings
from face_assets.db.sql_files import read_sql
from face_assets.recognition.config import model_key

SHOWN_CHARS = 12  # of a fingerprint, in messages
REEMBED = "face-assets reembed --model"


class ModelMismatch(RuntimeError):
    """The database's embeddings come from another model than the one configured (one line: what to do)."""


# --- the pack on disk ----------------------------------------------------------------------------------------------


def pack_folder(name: str, root: str) -> Path:
    """Where the pack is: <root>/models/<name>, or `name` itself when it is a path (as FaceEngine reads it)."""
    if os.sep in name or name.startswith("~"):
        return Path(name).expanduser()
    return Path(root).expanduser() / "models" / name


_PRINTS: dict[tuple, str] = {}
_PRINTS_LOCK = threading.Lock()


def pack_fingerprint(folder: Path | str) -> str | None:
    """sha256 over the sorted sha256s of the pack's .onnx files (their contents: a renamed file is the same pack);
    None when the folder holds none. Computed once per process for unchanged files (size and mtime)."""
    files = sorted(Path(folder).glob("*.onnx"))
    if not files:
        return None
    stats = []
    for path in files:
        st = path.stat()  # through a symlink: the file's own size and mtime
        stats.append((str(path.resolve()), st.st_size, st.st_mtime_ns))
    key = tuple(stats)
    with _PRINTS_LOCK:
        known = _PRINTS.get(key)
    if known is not None:
        return known
    digests = sorted(_file_sha256(Path(p)) for p, *_ in stats)
    value = hashlib.sha256("\n".join(digests).encode()).hexdigest()
    with _PRINTS_LOCK:
        _PRINTS[key] = value
    return value


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """A model pack as configured here: its name, and its fingerprint and folder when the pack is on this machine."""

    name: str
    fingerprint: str | None = None
    folder: str | None = None

    @classmethod
    def of(cls, name: str | None = None, root: str | None = None) -> ModelIdentity:
        """The pack `name` (a pack name under `root`, or a folder; default FACE_ASSETS_MODEL / _MODEL_ROOT)."""
        name = name or settings.model_name()
        folder = pack_folder(name, root or settings.model_root())
        if folder.is_dir():
            fingerprint = pack_fingerprint(folder)
            if fingerprint is not None:
                return cls(model_key(name), fingerprint, os.path.abspath(folder))
        return cls(model_key(name))

    @classmethod
    def of_engine(cls, engine) -> ModelIdentity:
        """The pack a face engine (FaceEngine, or anything with `model_name` and `model_root`) is configured with."""
        return cls.of(getattr(engine, "model_name", None), getattr(engine, "model_root", None))

    def describe(self) -> str:
        return f"{self.name} (version {self.fingerprint[:SHOWN_CHARS]})" if self.fingerprint else self.name


@dataclass(frozen=True)
class RecordedModel:
    name: str
    fingerprint: str | None
    source: str  # 'first_embedding' | 'adopted' | 'reembed' | 'inferred' (not recorded yet: read from the rows)
    recorded_at: datetime | None = None

    def describe(self) -> str:
        return f"{self.name} (version {self.fingerprint[:SHOWN_CHARS]})" if self.fingerprint else self.name


# --- the record --------------------------------------------------------------------------------------------------


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def inferred_model(conn: psycopg.Connection) -> RecordedModel | None:
    """The model the rows written before the record existed name (sql/model/inferred.sql); None without any."""
    if not (_exists(conn, "video_face_detections") and _exists(conn, "creator_face_embeddings")):
        return None
    row = conn.execute(read_sql("model/inferred.sql")).fetchone()
    return RecordedModel(row[0], None, "inferred") if row else None


def recorded_model(conn: psycopg.Connection) -> RecordedModel | None:
    """The model the database's embeddings came from: the record, or (no record yet) what the rows say."""
    if _exists(conn, "face_model"):
        row = conn.execute(read_sql("model/recorded.sql")).fetchone()
        if row is not None:
            return RecordedModel(*row)
    return inferred_model(conn)


def same_model(recorded: RecordedModel, model: ModelIdentity) -> bool:
    if recorded.fingerprint and model.fingerprint:
        return recorded.fingerprint == model.fingerprint
    return recorded.name == model.name


def mismatch_message(recorded: RecordedModel, model: ModelIdentity) -> str:
    """One line: which model the database's embeddings come from, which one is configured, and the two ways out."""
    if recorded.name == model.name:
        where = f" in {model.folder}" if model.folder else ""
        return (
            f"the database's embeddings come from model {recorded.describe()}, but the pack {model.name}{where} is "
            f"another version ({(model.fingerprint or '')[:SHOWN_CHARS]}): put back the pack the database was made "
            f"with, or re-embed the database with this one (`{REEMBED} {model.name}`)"
        )
    return (
        f"the database's embeddings come from model {recorded.describe()}, but this face_assets is configured with "
        f"{model.describe()} (FACE_ASSETS_MODEL): set FACE_ASSETS_MODEL={recorded.name} (FACE_ASSETS_MODEL_ROOT: the "
        f"folder holding models/{recorded.name}/), or re-embed the database with {model.name} (`{REEMBED} "
        f"{model.name}`)"
    )


def check_model(conn: psycopg.Connection, model: ModelIdentity) -> RecordedModel | None:
    """The database's model when `model` is it (None: no embeddings yet, any model may start); ModelMismatch
    otherwise. A model adopted by name takes `model`'s fingerprint (written on `conn`'s transaction)."""
    recorded = recorded_model(conn)
    if recorded is None:
        return None
    if not same_model(recorded, model):
        raise ModelMismatch(mismatch_message(recorded, model))
    if recorded.fingerprint is None and model.fingerprint and recorded.source != "inferred":
        conn.execute(read_sql("model/fill_fingerprint.sql"), {"name": model.name, "fingerprint": model.fingerprint})
    return recorded


def claim_model(conn: psycopg.Connection, model: ModelIdentity) -> RecordedModel:
    """In the transaction that writes embeddings of `model`: record it when the database has none yet, or
    ModelMismatch. The record stays share-locked until the transaction ends, so a switch to another model
    (face_assets.recognition.reembed) waits for the writes in flight, and the writes after it see the new model."""
    from face_assets.db.schema_upgrade import upgrade

    upgrade(conn)  # the record's table (one cheap query when the schema is current)
    if not _exists(conn, "face_model"):  # a schema without it (not to be expected after the upgrade): check only
        inferred = inferred_model(conn)
        if inferred is not None and not same_model(inferred, model):
            raise ModelMismatch(mismatch_message(inferred, model))
        return inferred or RecordedModel(model.name, model.fingerprint, "inferred")
    if model.fingerprint:
        conn.execute(read_sql("model/fill_fingerprint.sql"), {"name": model.name, "fingerprint": model.fingerprint})
    row = conn.execute(read_sql("model/recorded.sql").rstrip().rstrip(";") + " FOR SHARE").fetchone()
    if row is None:
        inferred = inferred_model(conn)
        if inferred is not None and not same_model(inferred, model):
            raise ModelMismatch(mismatch_message(inferred, model))
        conn.execute(
            read_sql("model/claim.sql"),
            {
                "name": model.name,
                "fingerprint": model.fingerprint,
                "source": "first_embedding" if inferred is None else "adopted",
            },
        )
        row = conn.execute(read_sql("model/recorded.sql").rstrip().rstrip(";") + " FOR SHARE").fetchone()
    recorded = RecordedModel(*row)
    if not same_model(recorded, model):
        raise ModelMismatch(mismatch_message(recorded, model))
    return recorded
