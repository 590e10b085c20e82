"""`process_videos`: everything that happens to a video (frames, faces, adaptive frames, matches), what the library
sensor launches."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from face_assets.defs.library.sensors import VIDEO_JOB_NAME

VIDEO_ASSETS = AssetSelection.assets("sampled_frames", "face_detections", "timeline_frames", "face_matches")

# In process: the four steps run one after the other anyway (each needs the previous one), so separate step
# processes only cost a Python start, the imports and a model load each, per run. One process per run keeps the
# model loaded across the run's steps; the library sensor sends many new videos per run (partition ranges).
# Backfills from the UI keep the default multiprocess executor (their own asset jobs).
process_videos = define_asset_job(
    VIDEO_JOB_NAME,
    selection=VIDEO_ASSETS,  # with their checks (an asset selection includes the checks on its assets)
    executor_def=in_process_executor,
)
