"""The face model (InsightFace on ONNX Runtime: ROCm/MIGraphX, CUDA or CPU), configured from the environment."""

from dagster import Definitions, definitions

from face_assets.engine.face_engine import FaceEngine


@definitions
def resources() -> Definitions:
    return Definitions(resources={"face_engine": FaceEngine()})
