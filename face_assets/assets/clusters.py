"""`face_clusters`: recurring unknown faces grouped into candidate creators (face_assets.recognition.clustering).

Unpartitioned: it clusters the unknown faces of all videos at once, after the matches (a face without a confirmed,
auto-tagged or proposed creator is unknown). Cluster ids are stable from run to run; named and merged clusters
(decisions made with `face-assets review cluster ...`) are never touched. A person turns a cluster into a creator
with `face-assets review cluster name CLUSTER "Name"`.
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from face_assets.recognition.clustering import cluster_faces
from face_assets.resources.database import PostgresResource
from face_assets.retries import DATABASE_RETRY
from face_assets.sql_files import read_sql

TOP_CLUSTERS = 20  # listed in the materialization's metadata


@asset(
    group_name="face_recognition",
    deps=[AssetKey("face_matches")],
    kinds={"postgres", "pgvector"},
    retry_policy=DATABASE_RETRY,
    description=(
        "Clusters of unknown faces (no confirmed, auto-tagged or proposed creator) across all videos: DBSCAN-like "
        "over each face's nearest neighbours found through the HNSW index (cluster_similarity, cluster_min_faces), "
        "after quality gates (size, detection score, blur). Ids stay stable between runs (greedy majority overlap); "
        "clusters without a successor are 'dissolved'; named and merged clusters are never touched."
    ),
)
def face_clusters(context: AssetExecutionContext, database: PostgresResource) -> MaterializeResult:
    with database.connect() as conn:
        result = cluster_faces(conn, connect=database.connect, log=context.log.info)
        top = conn.execute(read_sql("clusters/list_clusters.sql"), {"statuses": ["open"], "limit": TOP_CLUSTERS}).fetchall()

    table = ["| cluster | faces | videos | representative crop |", "| ---: | ---: | ---: | --- |"]
    table += [f"| {r[0]} | {r[2]} | {r[3]} | {r[5] or ''} |" for r in top]
    config = result.config
    return MaterializeResult(
        metadata={
            "clusters": result.clusters,
            "clustered_faces": result.clustered_faces,
            "unclustered_faces": result.unclustered_faces,
            "unknown_faces": result.unknown_faces,
            "candidates": result.candidates,
            "gated_out": MetadataValue.json(result.gated),
            "neighbour_pairs": result.edges,
            "neighbour_search": result.method,
            "kept_ids": len(result.kept_ids),
            "new_clusters": len(result.new_ids),
            "dissolved_clusters": len(result.dissolved_ids),
            "faces_moved": result.faces_moved,
            "seconds": MetadataValue.json({k: round(v, 3) for k, v in result.seconds.items()}),
            "config": MetadataValue.json({k: getattr(config, k) for k in config.KEYS}),
            "largest_clusters": MetadataValue.md("\n".join(table)),
        }
    )
