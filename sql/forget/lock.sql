-- One forget at a time, and no face written meanwhile at a place being forgotten: face_detections takes SHARE on
-- forgotten_faces before it writes a video's faces (forget/wait.sql), so a write waits for a forget in progress and
-- then sees its tombstones, and a forget waits for the writes in progress and then sees their faces.
LOCK TABLE forgotten_faces IN SHARE ROW EXCLUSIVE MODE;
