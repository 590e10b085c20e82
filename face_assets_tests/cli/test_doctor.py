"""`face-assets doctor`: the whole table on a complete configuration (exit 0), and each missing piece named (exit 1)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from face_assets.cli import doctor
from face_assets_tests.conftest import MODEL_ROOT, REPO


@pytest.fixture(scope="module")
def demo_library(tmp_path_factory):
    from face_assets import demo

    return demo.build(tmp_path_factory.mktemp("doctor") / "demo")


@pytest.fixture
def good(monkeypatch, demo_library, fresh_db):
    if not (MODEL_ROOT / "models" / "buffalo_sc").is_dir():
        pytest.skip(f"fixture model pack not found at {MODEL_ROOT}/models/buffalo_sc")
    for name, value in demo_library.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    return fresh_db


def test_doctor_shows_everything_and_passes(good):
    result = subprocess.run(
        [sys.executable, "-m", "face_assets.cli", "doctor"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {
        "python",
        "dagster",
        "psycopg",
        "insightface",
        "onnxruntime",
        "used",
        "model",
        "det_500m.onnx",
        "w600k_mbf_int8.onnx",
        "database",
        "PostgreSQL",
        "pgvector",
        "Dagster",
        "free",
        "web",
        "library",
    } <= rows
    assert re.search(r"used\s+ok\s+CPUExecutionProvider \(FACE_ASSETS_PROVIDERS=CPUExecutionProvider\)", out)
    assert re.search(r"PostgreSQL\s+ok\s+1[6-9]", out)
    assert re.search(r"pgvector\s+ok\s+\d+\.\d+", out)
    from sqlalchemy.engine import make_url

    url = make_url(good)
    assert f"/{url.database}" in out  # the application database is named
    if url.password:  # and its password hidden
        assert url.password not in out and ":***@" in out
    assert re.search(r"/library/videos\s+ok\s+\d+ video files", out)
    assert "http://127.0.0.1:3001" in out and "face-assets serve" in out
    assert "http://127.0.0.1:3000" in out
    assert "everything the configured work needs is there" in out


@pytest.mark.parametrize(
    "variable, value, expected",
    [
        ("FACE_ASSETS_LEGACY_DB", "{tmp}/gone.db", "no such file: set FACE_ASSETS_LEGACY_DB"),
        ("FACE_ASSETS_MODEL_ROOT", "{tmp}", "model pack buffalo_sc not found in"),
        ("DATABASE_URL", "postgresql://app:s3cret-pw@127.0.0.1:1/face_assets", "cannot connect"),
        ("FACE_ASSETS_LIBRARY", "{tmp}/no_such_folder", "FACE_ASSETS_LIBRARY: "),
        ("FACE_ASSETS_PROVIDERS", "cuda", "FACE_ASSETS_PROVIDERS=cuda: none of"),
    ],
)
def test_doctor_names_what_is_missing(good, monkeypatch, tmp_path, variable, value, expected):
    monkeypatch.setenv(variable, value.replace("{tmp}", str(tmp_path)))
    out = io.StringIO()
    assert doctor.run(out) == 1
    text = out.getvalue()
    missing = text.split("missing:", 1)[1].strip().splitlines()
    assert len(missing) == 1 and expected in missing[0], text
    assert "MISSING" in text.split("missing:", 1)[0]  # the table marks the row too
    assert "s3cret-pw" not in text


def test_doctor_explains_a_gpu_provider_without_a_gpu(good, monkeypatch):
    # Only meaningful where a GPU build of ONNX Runtime is installed; the CPU build has nothing to explain.
    import onnxruntime

    gpu = [
        p
        for p in onnxruntime.get_available_providers()
        if p in ("ROCMExecutionProvider", "MIGraphXExecutionProvider", "CUDAExecutionProvider")
    ]
    if not gpu:
        pytest.skip("no GPU build of ONNX Runtime installed")
    rows = {r.what.strip(): r for r in doctor.provider_rows()}
    visible = doctor.amd_gpu_visible() if gpu[0] != "CUDAExecutionProvider" else doctor.nvidia_gpu_visible()
    assert rows["used"].value.startswith(gpu[0] if visible else "CPUExecutionProvider")
