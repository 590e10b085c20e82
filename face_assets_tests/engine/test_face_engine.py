"""FaceEngine against the real InsightFace fixture pack (buffalo_sc) on CPU; provider logic as pure functions."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from face_assets.defs.faces.resources import FaceEngineResource
from face_assets.engine.face_engine import FaceEngine
from face_assets.engine.models import FaceEngineError
from face_assets.engine.providers import CPU, CUDA, MIGRAPHX, ROCM, provider_options, select_providers
from face_assets_tests.conftest import FIXTURES

PACK = FIXTURES / "models" / "buffalo_sc"
PICTURES = FIXTURES / "library" / "profile-pictures"
VIDEOS = FIXTURES / "library" / "videos"

requires_fixtures = pytest.mark.skipif(
    not PACK.is_dir() or not PICTURES.is_dir(),
    reason=f"fixture model pack / pictures not found under {FIXTURES} (expected ../shared/fixtures from the repo root)",
)


# --- provider selection (no model needed) --------------------------------------------------------

ALL_GPU = [ROCM, MIGRAPHX, CUDA, CPU]


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (ALL_GPU, [ROCM, MIGRAPHX, CUDA, CPU]),
        ([CPU, CUDA, MIGRAPHX, ROCM], [ROCM, MIGRAPHX, CUDA, CPU]),  # our priority, not the build's order
        ([MIGRAPHX, CPU], [MIGRAPHX, CPU]),
        ([CUDA, CPU], [CUDA, CPU]),
        (["TensorrtExecutionProvider", CUDA, CPU], [CUDA, CPU]),  # unknown providers are never auto-picked
        ([CPU], [CPU]),
        (["AzureExecutionProvider", CPU], [CPU]),
    ],
)
def test_auto_prefers_rocm_then_migraphx_then_cuda_then_cpu(available, expected):
    assert select_providers("auto", available) == expected
    assert select_providers("", available) == expected


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        (f"{CUDA},{CPU}", ALL_GPU, [CUDA, CPU]),
        (f"{CPU},{MIGRAPHX}", ALL_GPU, [CPU, MIGRAPHX]),  # the user's order is kept
        (f"{MIGRAPHX}", [MIGRAPHX, CPU], [MIGRAPHX]),  # no CPU added to an explicit list
        ("cuda, cpu", [CUDA, CPU], [CUDA, CPU]),  # short names
        (f"{ROCM},{CUDA},{CPU}", [CUDA, CPU], [CUDA, CPU]),  # unavailable ones dropped
        (f"{CPU},{CPU}", [CPU], [CPU]),
    ],
)
def test_explicit_provider_lists(requested, available, expected):
    assert select_providers(requested, available) == expected


def test_unavailable_explicit_provider_is_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert select_providers(f"{ROCM},{CPU}", [CPU]) == [CPU]
    assert ROCM in caplog.text


def test_no_requested_provider_available_is_an_error():
    with pytest.raises(ValueError, match="None of the requested execution providers") as info:
        select_providers(f"{ROCM},{MIGRAPHX}", [CUDA, CPU])
    assert "FACE_ASSETS_PROVIDERS" in str(info.value)


def test_provider_options_per_provider(tmp_path):
    opts = provider_options(
        [ROCM, MIGRAPHX, CUDA, CPU],
        device_id=1,
        migraphx_fp16=True,
        migraphx_cache_path=str(tmp_path),
        ort_version="1.23.2",
    )
    assert opts[0] == {"device_id": "1"}
    assert opts[1] == {
        "device_id": "1",
        "migraphx_fp16_enable": "1",
        "migraphx_model_cache_dir": str(tmp_path / "fp16"),
    }
    assert opts[2] == {"device_id": "1"}
    assert opts[3] == {}


def test_migraphx_options_without_cache_or_fp16():
    # Before ONNX Runtime 1.23 there is no cache-directory option; passing unknown keys would fail the session.
    assert provider_options([MIGRAPHX], migraphx_cache_path="/c", ort_version="1.22.1") == [
        {"device_id": "0", "migraphx_fp16_enable": "1"}
    ]
    assert provider_options([MIGRAPHX], migraphx_fp16=False, migraphx_cache_path="/c", ort_version="1.24.0")[0] == {
        "device_id": "0",
        "migraphx_fp16_enable": "0",
        "migraphx_model_cache_dir": "/c/fp32",
    }
    assert provider_options([MIGRAPHX], migraphx_cache_path=None, ort_version="1.24.0")[0] == {
        "device_id": "0",
        "migraphx_fp16_enable": "1",
    }


def test_defaults_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACE_ASSETS_MODEL", "antelopev2")
    monkeypatch.setenv("FACE_ASSETS_MODEL_ROOT", str(tmp_path))
    monkeypatch.setenv("FACE_ASSETS_PROVIDERS", "cpu")
    monkeypatch.setenv("FACE_ASSETS_HOME", str(tmp_path / "home"))
    engine = FaceEngine()
    assert (engine.model_name, engine.model_root, engine.providers) == ("antelopev2", str(tmp_path), "cpu")
    assert engine.migraphx_cache_path == str(tmp_path / "home" / "migraphx_cache")
    assert (engine.det_size, engine.det_threshold, engine.recognition_batch_size) == (640, 0.5, 64)

    for var in ("FACE_ASSETS_MODEL", "FACE_ASSETS_MODEL_ROOT", "FACE_ASSETS_PROVIDERS"):
        monkeypatch.delenv(var)
    engine = FaceEngine()
    assert (engine.model_name, engine.model_root, engine.providers) == ("buffalo_l", "~/.insightface", "auto")


# --- model pack errors ---------------------------------------------------------------------------


def test_missing_pack_is_a_clear_error_not_a_download(monkeypatch, tmp_path):
    monkeypatch.setenv("FACE_ASSETS_ALLOW_MODEL_DOWNLOAD", "0")
    engine = FaceEngine(model_name="buffalo_l", model_root=str(tmp_path), providers="auto")
    with pytest.raises(FaceEngineError) as info:
        engine.load()
    message = str(info.value)
    assert str(tmp_path / "models" / "buffalo_l") in message
    assert "FACE_ASSETS_MODEL_ROOT" in message and "FACE_ASSETS_MODEL" in message
    assert not (tmp_path / "models").exists()  # nothing was fetched


def test_pack_folder_without_models_is_an_error(tmp_path):
    (tmp_path / "models" / "empty_pack").mkdir(parents=True)
    with pytest.raises(FaceEngineError, match=r"no \.onnx files"):
        FaceEngine(model_name="empty_pack", model_root=str(tmp_path), providers="cpu").load()


@requires_fixtures
def test_unavailable_explicit_providers_fail_the_engine():
    engine = FaceEngine(model_name="buffalo_sc", model_root=str(FIXTURES), providers=ROCM)
    with pytest.raises(FaceEngineError, match="None of the requested execution providers"):
        engine.load()


# --- the real model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    if not PACK.is_dir():
        pytest.skip(f"fixture model pack not found at {PACK}")
    engine = FaceEngine(model_name="buffalo_sc", model_root=str(FIXTURES), providers="auto", migraphx_cache_path=None)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def pictures() -> dict[str, np.ndarray]:
    if not PICTURES.is_dir():
        pytest.skip(f"profile pictures not found at {PICTURES}")
    images = {p.stem: cv2.imread(str(p)) for p in sorted(PICTURES.iterdir()) if p.suffix in (".jpg", ".png")}
    assert len(images) == 10 and all(img is not None for img in images.values())
    return images


@pytest.fixture(scope="module")
def picture_faces(engine, pictures):
    """All profile pictures in ONE detect() call, so recognition runs over faces of several images."""
    return dict(zip(pictures, engine.detect(list(pictures.values()))))


@requires_fixtures
def test_every_profile_picture_has_a_face_with_a_unit_512d_embedding(pictures, picture_faces):
    for name, faces in picture_faces.items():
        assert len(faces) >= 1, name
        height, width = pictures[name].shape[:2]
        for face in faces:
            assert face.embedding.shape == (512,) and face.embedding.dtype == np.float32
            assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4
            assert face.kps.shape == (5, 2)
            assert face.det_score >= 0.5
            x1, y1, x2, y2 = face.bbox
            # bbox in pixels of the original picture (LFW pictures are 250x250, others larger)
            assert -0.1 * width < x1 < x2 < 1.1 * width and -0.1 * height < y1 < y2 < 1.1 * height
            assert (x2 - x1) > 0.15 * width


@requires_fixtures
def test_embeddings_match_insightface_face_analysis(pictures, picture_faces):
    from insightface.app import FaceAnalysis

    reference = FaceAnalysis(
        name="buffalo_sc", root=str(FIXTURES), allowed_modules=["detection", "recognition"], providers=[CPU]
    )
    reference.prepare(ctx_id=-1, det_thresh=0.5, det_size=(640, 640))
    for name, image in pictures.items():
        expected = reference.get(image)
        ours = picture_faces[name]
        assert len(ours) == len(expected), name
        for face in ours:
            match = min(expected, key=lambda f: float(np.abs(f.bbox - np.array(face.bbox)).sum()))
            assert np.allclose(face.bbox, match.bbox, atol=1e-3), name
            assert float(np.dot(face.embedding, match.normed_embedding)) > 0.999, name


@requires_fixtures
def test_dynamically_quantised_recognizer_is_not_batched(engine, pictures, picture_faces):
    # Why: DynamicQuantizeLinear takes its scale over the whole batch, so a batch changes every face's embedding.
    from insightface.utils import face_align

    assert engine.model_info()["recognition_batch_size"] == 1
    crops = [
        face_align.norm_crop(pictures[name], landmark=faces[0].kps, image_size=112)
        for name, faces in picture_faces.items()
    ]
    alone = np.array([faces[0].embedding for faces in picture_faces.values()])
    together = engine._models().recognizer.get_feat(crops)  # what naive batching would give
    together /= np.linalg.norm(together, axis=1, keepdims=True)
    assert float((alone * together).sum(axis=1).min()) < 0.999
    assert np.allclose(engine.embed_crops(crops[:3]), alone[:3], atol=1e-5)


@requires_fixtures
def test_detect_keeps_one_list_per_image_in_order(engine, pictures):
    blank = np.full((360, 640, 3), 127, dtype=np.uint8)
    sharon = pictures["ariel_sharon"]
    result = engine.detect([blank, sharon, blank])
    assert [len(faces) for faces in result] == [0, 1, 0]
    assert engine.detect([]) == []
    grey = cv2.cvtColor(sharon, cv2.COLOR_BGR2GRAY)  # grey input is converted, not rejected
    assert len(engine.detect([grey])[0]) == 1


@requires_fixtures
def test_frames_in_parallel_give_the_same_faces_in_the_same_order(engine, pictures):
    """frame_workers threads share one session (intra-op threads 1 each); the answer is the single thread's."""
    images = [*list(pictures.values()), np.full((360, 640, 3), 127, dtype=np.uint8)]
    serial = FaceEngine(
        model_name="buffalo_sc",
        model_root=str(FIXTURES),
        providers="CPUExecutionProvider",
        migraphx_cache_path=None,
        frame_workers=1,
    )
    parallel = serial.model_copy(update={"frame_workers": 3})
    assert serial.effective_frame_workers == 1 and parallel.effective_frame_workers == 3
    assert parallel.model_info()["intra_op_threads"] == 1 and serial.model_info()["intra_op_threads"] == 0
    one, three = serial.detect(images), parallel.detect(images)
    assert [len(f) for f in three] == [len(f) for f in one] and len(three[-1]) == 0 and sum(map(len, one)) >= 10
    for a, b in zip((f for faces in one for f in faces), (f for faces in three for f in faces)):
        assert np.allclose(a.bbox, b.bbox, atol=1e-3) and float(a.embedding @ b.embedding) > 0.9999
    gpu_like = FaceEngine(model_name="buffalo_sc", model_root=str(FIXTURES), providers="CPUExecutionProvider")
    assert gpu_like._workers_for(["CUDAExecutionProvider", "CPUExecutionProvider"]) == 1
    assert 1 <= gpu_like._workers_for(["CPUExecutionProvider"]) <= 4


@requires_fixtures
def test_same_person_in_a_video_frame_is_closest_to_their_profile_picture(engine, picture_faces):
    from face_assets.video.frames import read_frames

    video = VIDEOS / "slideshow_01.mp4"  # LFW photos of Ariel Sharon, 2 s each
    if not video.is_file():
        pytest.skip(f"fixture video not found at {video}")
    frame = read_frames(video, [1.0])[0]
    faces = engine.detect([frame.image])[0]
    assert faces
    face = max(faces, key=lambda f: f.det_score)
    similarity = {name: float(np.dot(face.embedding, fs[0].embedding)) for name, fs in picture_faces.items()}
    assert similarity["ariel_sharon"] > similarity["colin_powell"] + 0.3
    assert max(similarity, key=similarity.get) == "ariel_sharon"


@requires_fixtures
def test_models_are_loaded_once_per_process(engine):
    twin = FaceEngine(model_name="buffalo_sc", model_root=str(FIXTURES), providers="auto", migraphx_cache_path=None)
    assert twin._models() is engine._models()
    other = FaceEngine(model_name="buffalo_sc", model_root=str(FIXTURES), det_size=320, migraphx_cache_path=None)
    assert other._models() is not engine._models()


@requires_fixtures
def test_pack_folder_can_be_given_as_the_name(engine):
    by_path = FaceEngine(model_name=str(PACK), model_root="/nonexistent", migraphx_cache_path=None)
    assert by_path._models() is engine._models()


@requires_fixtures
def test_model_info_and_active_providers(engine):
    info = engine.model_info()
    assert info["name"] == "buffalo_sc" and info["root"] == str(FIXTURES) and info["det_size"] == 640
    assert info["providers"] == engine.active_providers and CPU in engine.active_providers
    assert info["detector"].endswith(".onnx") and info["recognizer"].endswith(".onnx")
    assert info["embedding_dim"] == 512


@requires_fixtures
def test_assets_share_the_process_wide_models(engine, pictures):
    import dagster as dg

    seen = []

    @dg.asset
    def faces_in_sharon(face_engine: FaceEngineResource) -> int:
        seen.append(face_engine._models())
        return len(face_engine.detect([pictures["ariel_sharon"]])[0])

    @dg.asset
    def faces_in_powell(face_engine: FaceEngineResource) -> int:
        seen.append(face_engine._models())
        return len(face_engine.detect([pictures["colin_powell"]])[0])

    resource = FaceEngineResource(
        model_name="buffalo_sc", model_root=str(FIXTURES), providers="auto", migraphx_cache_path=None
    )
    result = dg.materialize([faces_in_sharon, faces_in_powell], resources={"face_engine": resource})
    assert result.success
    assert result.output_for_node("faces_in_sharon") == 1 and result.output_for_node("faces_in_powell") == 1
    assert all(models is engine._models() for models in seen)  # loaded once, by the module fixture
