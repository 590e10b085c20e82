-- Faces a person put in one cluster (review cluster merge): clustering keeps each link_group together.
SELECT detection_id, link_group FROM face_cluster_links ORDER BY detection_id;
