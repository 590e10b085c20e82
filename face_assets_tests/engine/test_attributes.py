"""Age and gender from a pack's genderage model (face_assets.engine.attributes), without a real genderage model.

No real genderage model is available offline (the fixture pack buffalo_sc has none, and nothing may be downloaded),
so these tests build a tiny one with InsightFace's genderage signature (input "data" 1x3x96x96, output 1x3): a fixed
linear map of the crop's mean colour, whose output is known and depends on the input. They check the plumbing
(finding the model in a pack, loading it, running it on the face's box) and the pre- and post-processing
(InsightFace's crop and normalisation, argmax of the gender logits, age = round(100 * output 3)) against arithmetic
done here independently, not the quality of a real genderage model.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_assets_tests.conftest import FIXTURES

PACK = FIXTURES / "models" / "buffalo_sc"
PORTRAIT = FIXTURES / "lfw_dev" / "images" / "George_W_Bush" / "George_W_Bush_0001.jpg"

requires_fixtures = pytest.mark.skipif(
    not PACK.is_dir() or not PORTRAIT.exists(),
    reason=f"fixture model pack / photos not found under {FIXTURES} (expected ../shared/fixtures from the repo root)",
)

# The synthetic model: out = means @ WEIGHTS + BIAS, `means` the crop's mean of each input channel (R, G, B: the
# attribute model gets RGB). Logits [F, M] = [mean blue, mean red]; age/100 = 0.35 + 0.3 * mean green.
WEIGHTS = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.3], [1.0, 0.0, 0.0]], dtype=np.float32)
BIAS = np.array([0.0, 0.0, 0.35], dtype=np.float32)


def write_genderage_model(path: Path, outputs: int = 3) -> Path:
    """A tiny ONNX model with InsightFace's genderage signature (or, `outputs` != 3, another 96x96 attribute model)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = WEIGHTS if outputs == 3 else np.ones((3, outputs), dtype=np.float32)
    bias = BIAS if outputs == 3 else np.zeros(outputs, dtype=np.float32)
    # Node names matter: InsightFace's Attribute takes a model whose first nodes are named Sub*/Mul* as expecting raw
    # pixels; these names keep its usual normalisation, (pixel - 127.5) / 128.
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["data"], ["means"], name="channel_means", axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["means", "weights"], ["projected"], name="project"),
            helper.make_node("Add", ["projected", "bias"], ["fc1"], name="shift"),
        ],
        "genderage_synthetic",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 96, 96])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, outputs])],
        initializer=[numpy_helper.from_array(weights, "weights"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def pack_with_genderage(folder: Path, name: str = "genderage.onnx") -> Path:
    """A copy of the fixture pack (its two models linked) plus the synthetic genderage model as `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    for onnx_file in PACK.glob("*.onnx"):
        (folder / onnx_file.name).symlink_to(onnx_file.resolve())
    write_genderage_model(folder / name)
    return folder


def expected_output(image: np.ndarray, bbox) -> np.ndarray:
    """The synthetic model's output for the face in `bbox`, computed here: InsightFace's attribute crop (centre of
    the box, 96 px for 1.5 times its longer side, black outside the image), RGB, (pixel - 127.5) / 128."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    scale = 96 / (max(x2 - x1, y2 - y1) * 1.5)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    matrix = np.array([[scale, 0, 48 - cx * scale], [0, scale, 48 - cy * scale]])
    crop = cv2.warpAffine(image, matrix, (96, 96), borderValue=0.0)
    rgb = (crop[..., ::-1].astype(np.float64) - 127.5) / 128
    return rgb.reshape(-1, 3).mean(axis=0) @ WEIGHTS.astype(np.float64) + BIAS


def expected_answer(output: np.ndarray) -> tuple[int, str]:
    return int(np.round(output[2] * 100)), "FM"[int(np.argmax(output[:2]))]


@requires_fixtures
def test_a_pack_without_genderage_model_gives_none(tmp_path):
    from face_assets.engine.attributes import find_genderage, genderage_model

    assert find_genderage(PACK) is None  # both of its models probed: detection and recognition
    assert genderage_model(PACK, skip=[f.name for f in PACK.glob("*.onnx")]) is None


@requires_fixtures
def test_the_genderage_model_is_found_by_name_or_by_task(tmp_path):
    from face_assets.engine.attributes import find_genderage, genderage_model

    named = pack_with_genderage(tmp_path / "named")
    assert find_genderage(named) == named / "genderage.onnx"

    # Another name: found by what InsightFace's model_zoo says it is; another 96x96 attribute model is not it.
    other = pack_with_genderage(tmp_path / "other", name="ga_v2.onnx")
    write_genderage_model(other / "attribute4.onnx", outputs=4)
    assert find_genderage(other) == other / "ga_v2.onnx"
    only_attribute = tmp_path / "attribute_only"
    only_attribute.mkdir()
    write_genderage_model(only_attribute / "attribute4.onnx", outputs=4)
    assert find_genderage(only_attribute) is None

    # A damaged file named like one: not a model, and no age/gender (the service goes on without them).
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "genderage.onnx").write_bytes(b"not an onnx model")
    assert find_genderage(broken) is None
    assert genderage_model(broken) is None

    loaded = genderage_model(named)
    assert loaded is not None and loaded.model_file.name == "genderage.onnx"
    assert genderage_model(named) is loaded  # kept for the process


@requires_fixtures
def test_age_and_gender_follow_insightface_on_a_real_face(tmp_path):
    """On a fixture photo, with the box the engine finds: what InsightFace's Attribute gives on its own session, and
    what the arithmetic above gives."""
    from insightface.model_zoo.attribute import Attribute

    from face_assets.engine.attributes import genderage_model
    from face_assets.engine.face_engine import FaceEngine

    pack = pack_with_genderage(tmp_path / "pack")
    image = cv2.imread(str(PORTRAIT))
    face = FaceEngine().detect([image])[0][0]
    model = genderage_model(pack)
    assert model is not None
    got = model.predict(image, face.bbox)

    class Face(dict):
        bbox = np.asarray(face.bbox, dtype=np.float32)

    reference = Attribute(model_file=str(pack / "genderage.onnx"))  # InsightFace's own session and preprocessing
    gender, age = reference.get(image, Face())
    assert reference.taskname == "genderage" and (reference.input_mean, reference.input_std) == (127.5, 128.0)
    assert (got.age, got.gender) == (age, "FM"[gender])

    output = expected_output(image, face.bbox)
    assert abs(output[2] * 100 - np.round(output[2] * 100)) < 0.49  # far enough from a rounding boundary
    assert (got.age, got.gender) == expected_answer(output)
    assert isinstance(got.age, int) and got.gender in ("M", "F")


def test_the_answer_depends_on_the_face(tmp_path):
    from face_assets.engine.attributes import load_genderage

    model = load_genderage(write_genderage_model(tmp_path / "genderage.onnx"))
    box = (100.0, 80.0, 200.0, 220.0)
    answers = set()
    for bgr in ((200, 40, 30), (30, 40, 200), (30, 220, 200), (10, 10, 10)):  # blue, red, yellow-ish, black
        image = np.zeros((300, 300, 3), dtype=np.uint8)
        image[:] = bgr
        got = model.predict(image, box)
        assert (got.age, got.gender) == expected_answer(expected_output(image, box)), bgr
        answers.add((got.age, got.gender))
    assert len(answers) == 4
    assert model.predict(np.full((300, 300, 3), (200, 40, 30), np.uint8), box).gender == "F"  # blue wins: logit F


def test_a_model_of_another_task_is_refused(tmp_path):
    from face_assets.engine.attributes import load_genderage

    with pytest.raises(ValueError, match="not a genderage model"):
        load_genderage(write_genderage_model(tmp_path / "attribute4.onnx", outputs=4))
