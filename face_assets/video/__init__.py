"""Video files: probing them and decoding sampled frames by seeking (OpenCV). May import face_assets.settings only."""
