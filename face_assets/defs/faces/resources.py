"""The face model (InsightFace on ONNX Runtime: ROCm/MIGraphX, CUDA or CPU), configured from the environment."""

from dagster import ConfigurableResource, Definitions, definitions

from face_assets.engine.face_engine import FaceEngine


class FaceEngineResource(FaceEngine, ConfigurableResource):
    """face_assets.engine's FaceEngine as a Dagster resource: the same settings (shown in the UI) and methods."""


@definitions
def resources() -> Definitions:
    return Definitions(resources={"face_engine": FaceEngineResource()})
