"""Who is on screen, and when, as the pages and the API show it (face_assets.recognition.timeline stores it)."""

from __future__ import annotations

import psycopg

from face_assets.recognition.timeline import clock, creator_appearances, spans_text, video_appearances


def video_timeline(conn: psycopg.Connection, video_id: int) -> dict:
    """A video's appearances: the video's duration, and one row per person (creators first, then clusters) with
    their intervals, each with the frame of its best face (what a click on the timeline shows)."""
    row = conn.execute(
        "SELECT COALESCE(NULLIF(duration_seconds, 0), 0) FROM videos WHERE id = %s", (int(video_id),)
    ).fetchone()
    duration = float(row[0]) if row else 0.0
    people: dict[tuple, dict] = {}
    items = []
    for a in video_appearances(conn, video_id):
        item = a.as_dict()
        item["start"], item["end"] = clock(a.start), clock(a.end)
        items.append(item)
        person = people.setdefault(
            (a.creator_id, a.cluster_id),
            {"creator_id": a.creator_id, "cluster_id": a.cluster_id, "name": a.name, "appearances": []},
        )
        person["appearances"].append(item)
    end = max([duration] + [i["end_seconds"] for i in items])
    for person in people.values():
        for item in person["appearances"]:
            item["left_pct"] = round(100.0 * item["start_seconds"] / end, 3) if end else 0.0
            item["width_pct"] = (
                round(max(100.0 * (item["end_seconds"] - item["start_seconds"]) / end, 0.4), 3) if end else 100.0
            )
        person["text"] = spans_text((i["start_seconds"], i["end_seconds"]) for i in person["appearances"])
    return {
        "video_id": int(video_id),
        "duration_seconds": round(end, 3),
        "items": items,
        "people": list(people.values()),
    }


def creator_timeline(conn: psycopg.Connection, creator_id: int) -> list[dict]:
    """Per video where the creator appears: the video and 'appears at 0:12-1:40, 3:05-3:30'."""
    found = creator_appearances(conn, [creator_id]).get(int(creator_id), {})
    return [
        {
            "video_id": video_id,
            "title": entry["title"],
            "spans": [
                {
                    "start_seconds": round(s, 3),
                    "end_seconds": round(e, 3),
                    "start": clock(s),
                    "end": clock(e),
                    "status": st,
                }
                for s, e, st in entry["spans"]
            ],
            "text": spans_text(entry["spans"]),
        }
        for video_id, entry in found.items()
    ]
