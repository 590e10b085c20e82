-- A creator's profile picture file.
SELECT profile_picture_path FROM creators WHERE id = %s;
