"""The face model (InsightFace on ONNX Runtime: ROCm/MIGraphX, CUDA or CPU), configured from the environment."""

from dagster import ConfigurableResource, Definitions, Failure, definitions

from face_assets.engine.face_engine import FaceEngine
from face_assets.recognition.model_record import ModelIdentity, ModelMismatch, check_model


class FaceEngineResource(FaceEngine, ConfigurableResource):
    """face_assets.engine's FaceEngine as a Dagster resource: the same settings (shown in the UI) and methods."""


@definitions
def resources() -> Definitions:
    return Definitions(resources={"face_engine": FaceEngineResource()})


def same_model_or_fail(conn, face_engine: FaceEngine) -> ModelIdentity:
    """The engine's model pack, when the database's embeddings come from it (or there are none yet); otherwise a
    Failure, not retried, whose description is the one line saying what to do (face_assets.recognition.model_record).
    Nothing is loaded: it is asked before the model runs."""
    model = ModelIdentity.of_engine(face_engine)
    try:
        check_model(conn, model)
    except ModelMismatch as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    return model
