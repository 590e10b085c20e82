-- The figures of face recognition in one row (asset `face_recognition_stats`).
-- Videos "with creators before": tagged by the legacy app (source 'legacy'); "after": tagged by any source.
SELECT
    (SELECT count(*) FROM video_face_detections) AS detections,
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'pending') AS detections_pending,
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'matched') AS detections_matched,
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'unmatched') AS detections_unmatched,
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'rejected') AS detections_rejected,
    (SELECT count(*) FROM video_face_detections WHERE match_status = 'manual') AS detections_manual,
    (SELECT count(*) FROM video_face_detections
      WHERE match_status = 'pending' AND matched_creator_id IS NOT NULL) AS matches_awaiting_review,
    (SELECT count(*) FROM videos) AS videos,
    (SELECT count(*) FROM videos WHERE is_available) AS videos_available,
    (SELECT count(*) FROM video_face_scans WHERE status = 'processed') AS videos_processed,
    (SELECT count(*) FROM video_face_scans WHERE status = 'failed') AS videos_failed,
    (SELECT count(*) FROM videos v
      WHERE v.is_available AND NOT EXISTS (SELECT 1 FROM video_face_scans s WHERE s.video_id = v.id))
        AS videos_not_processed,
    (SELECT count(*) FROM video_face_scans WHERE status = 'processed' AND faces > 0) AS videos_with_faces,
    (SELECT count(DISTINCT video_id) FROM video_creators WHERE source = 'legacy') AS videos_with_creators_before,
    (SELECT count(DISTINCT video_id) FROM video_creators) AS videos_with_creators_after,
    (SELECT count(*) FROM video_creators WHERE source = 'legacy') AS legacy_tags,
    (SELECT count(*) FROM video_creators WHERE source = 'face_recognition') AS auto_tags,
    (SELECT count(*) FROM video_creators WHERE source = 'manual') AS manual_tags,
    (SELECT count(*) FROM face_clusters WHERE status = 'open') AS clusters_open,
    (SELECT count(*) FROM face_clusters WHERE status = 'named') AS clusters_named,
    (SELECT count(*) FROM face_clusters WHERE status = 'merged') AS clusters_merged,
    (SELECT count(*) FROM face_clusters WHERE status = 'dissolved') AS clusters_dissolved,
    (SELECT count(*) FROM video_face_detections d JOIN face_clusters c ON c.id = d.cluster_id
      WHERE c.status = 'open') AS faces_in_open_clusters,
    (SELECT count(*) FROM creators) AS creators,
    (SELECT count(DISTINCT creator_id) FROM creator_face_embeddings) AS creators_with_embeddings,
    (SELECT count(*) FROM creator_face_embeddings) AS creator_embeddings,
    (SELECT count(*) FROM creator_face_embeddings WHERE source_type = 'video_frame') AS embeddings_from_video_frames;
