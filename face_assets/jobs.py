"""Jobs: what the sensors and schedules launch."""

from dagster import AssetSelection, define_asset_job

from face_assets.sensors import VIDEO_JOB_NAME

# Everything that happens to one video: frames, faces, matches. The library sensor requests one run per new video.
VIDEO_ASSETS = AssetSelection.assets("sampled_frames", "face_detections", "face_matches")

process_videos = define_asset_job(VIDEO_JOB_NAME, selection=VIDEO_ASSETS)  # partitioned like its assets
