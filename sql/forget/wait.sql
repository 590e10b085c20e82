-- face_detections, before it writes a video's faces: wait for a forget in progress (forget/lock.sql).
LOCK TABLE forgotten_faces IN SHARE MODE;
