-- Faces %(ids)s with what the review pages show of each (video, creator, box, frame time, cluster).
{face_rows}
WHERE d.id = ANY(%(ids)s::int[]);
