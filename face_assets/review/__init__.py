"""What a person decides, and what the review needs to show: plain functions over a connection, shared by the web app
(face_assets.web), the command line (face_assets.cli) and the Dagster assets (face_assets.defs).

  decisions.py     confirm, reject, assign faces; name, merge, ignore clusters (each re-matches what it touches)
  queries.py       the review listings (keyset pages of faces, clusters, creators, videos)
  page_queries.py  what the pages show beside the listings (explanations, references, nearby clusters, bad files)
  config_store.py  the recognition settings a person may change, stored in face_recognition_config
  recognize.py     a photo: who is it, and adding it as a creator's reference
  stats.py         face recognition in numbers (the face_recognition_stats asset, the home page, the summary)
  forget.py        forgetting a person for good (a creator's faces, a cluster), and the tombstones that keep them out

May import the domain packages (face_assets.recognition, .video, .library, .engine), face_assets.db and
face_assets.settings; never an entry point (face_assets.cli, .web, .defs, .definitions).
"""
