"""Face recognition logic: matching faces to creators, clustering unknown faces."""
