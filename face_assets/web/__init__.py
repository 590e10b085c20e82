"""The review web app (`face-assets serve`): pages and the design's HTTP API under /api/face-recognition/.

  app.py       create_app() assembles the routes and the safety rules; serve_app() is what `face-assets serve` runs
  api.py       the JSON API;  pages.py  the server-rendered pages (templates/ only render);  images.py  crops, frames
  deps.py      what every route needs (a connection per request, the face engine, Dagster);  uploads.py  photo checks
  face_service.py  the legacy app's face service (/health, /detect, /extract-embedding)
  inference.py     the bounded pool every model call of the app runs in (503 + Retry-After beyond its queue)
  probes.py        /live and /ready for a supervisor (Kubernetes): no token, /ready 503 while PostgreSQL is down

The routes are thin: they validate input and call face_assets.review (decisions, queries, page queries, stored
settings, photo search, stats). May import face_assets.review, the domain packages, face_assets.db and
face_assets.settings; never face_assets.cli, face_assets.defs or face_assets.definitions (import-linter checks it).
"""
