-- After the switch: no change in progress, nothing staged; the stored neighbour lists (distances of the old
-- embeddings) go, so the next clustering is a full run; the rematch mark goes, so the next rematch is a full one.
DELETE FROM face_model_change;
TRUNCATE face_embeddings_next;
TRUNCATE face_neighbours, face_neighbour_changes;
DELETE FROM face_neighbour_state;
DELETE FROM recognition_state WHERE key = 'rematch.creator_embeddings';
