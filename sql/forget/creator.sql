-- Creator %(creator_id)s: name and profile picture path (the video app's file, reported, never deleted).
SELECT id, name, profile_picture_path FROM creators WHERE id = %(creator_id)s;
