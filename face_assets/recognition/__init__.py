"""Face recognition logic over a connection: creator embeddings, matching faces to creators, the evidence rule that
auto-tags, calibration, clustering unknown faces and the proposals made from clusters.

May import face_assets.engine, face_assets.db and face_assets.settings; never the review logic or an entry point.
"""
