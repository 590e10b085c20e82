-- Review bookkeeping (face-assets review, asset `face_clusters`). Idempotent: run before every use.
--
-- How decisions are kept (no table needed for most of them, see face_assets/review/decisions.py):
--   confirm/assign: video_face_detections.match_status 'manual', matched_creator_id = the creator, decided_at set;
--   reject:         match_status 'rejected', matched_creator_id = the REJECTED creator, decided_at set. Matching never
--                   rewrites a decided row, so the rejected creator is never proposed again for that face, and the
--                   face counts as unknown for clustering. Re-detection carries these columns over
--                   (sql/detections/replace_detections.sql).
--
-- Faces a person put in one cluster (`review cluster merge`): clustering keeps faces of one link_group in one cluster
-- even where the distance rule alone would split them. Keyed by detection id: re-detecting a video drops its links.
CREATE TABLE IF NOT EXISTS face_cluster_links (
    detection_id INTEGER PRIMARY KEY REFERENCES video_face_detections(id) ON DELETE CASCADE,
    link_group INTEGER NOT NULL,
    linked_at timestamptz DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_face_cluster_links_group ON face_cluster_links(link_group);

-- Faces a person took out of a cluster as "not this person" (review: remove a face from a cluster). Clustering leaves
-- them out of every cluster (sql/clusters/candidates.sql) until a person decides who they are.
CREATE TABLE IF NOT EXISTS face_cluster_exclusions (
    detection_id INTEGER PRIMARY KEY REFERENCES video_face_detections(id) ON DELETE CASCADE,
    cluster_id INTEGER REFERENCES face_clusters(id) ON DELETE SET NULL,
    excluded_at timestamptz DEFAULT CURRENT_TIMESTAMP
);

-- 'ignored': a person said a cluster is nobody to name (a bystander, a poster). Clustering leaves ignored clusters and
-- their faces alone, like named ones.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'face_clusters_status_check'
                   AND pg_get_constraintdef(oid) LIKE '%ignored%') THEN
        ALTER TABLE face_clusters DROP CONSTRAINT IF EXISTS face_clusters_status_check;
        ALTER TABLE face_clusters ADD CONSTRAINT face_clusters_status_check
            CHECK (status IN ('open', 'named', 'merged', 'dissolved', 'ignored'));
    END IF;
END $$;

-- The review app lists clusters largest first, a page at a time (keyset on (size, id) within a status).
CREATE INDEX IF NOT EXISTS idx_face_clusters_listing ON face_clusters (status, size DESC, id);
