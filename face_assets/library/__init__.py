"""The video library on disk: finding, registering and verifying video files (no Dagster here).

May import face_assets.video, face_assets.db and face_assets.settings.
"""

from face_assets.library.scanner import (
    VIDEO_EXTENSIONS,
    FileError,
    LibraryNotReady,
    MovedVideo,
    PresentVideo,
    ScanResult,
    is_video_name,
    library_ready,
    log_scan,
    scan_and_register,
    scan_library,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "FileError",
    "LibraryNotReady",
    "MovedVideo",
    "PresentVideo",
    "ScanResult",
    "is_video_name",
    "library_ready",
    "log_scan",
    "scan_and_register",
    "scan_library",
]
