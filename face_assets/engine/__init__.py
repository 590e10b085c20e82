"""The face model: InsightFace's detector (SCRFD) and recognizer (ArcFace) on ONNX Runtime, plain code.

  providers.py    which ONNX Runtime execution providers to use (ROCm, MIGraphX, CUDA, then CPU) and their options
  models.py       finding the model pack and building its sessions once per process
  face_engine.py  FaceEngine: faces and 512-d embeddings from images (the Dagster resource wrapping it is in
                  face_assets.defs.faces.resources; the web app uses it directly)

May import face_assets.settings only.
"""
