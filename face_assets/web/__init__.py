"""The review web app (`face-assets serve`): pages and the design's HTTP API under /api/face-recognition/.

`face_assets.web.app.create_app` builds it; the routes are thin: they validate input and call the plain logic of
face_assets.review (decisions), face_assets.review_queries (listings), face_assets.recognize (photos) and
face_assets.config_store (settings).
"""
