"""`face-assets review ...`: its arguments, and the lines it prints, over face_assets.review.decisions."""

from __future__ import annotations

import argparse

import psycopg

from face_assets.db import embedded_postgres
from face_assets.db.connection import connect
from face_assets.recognition.config import RecognitionConfig
from face_assets.review.decisions import (
    ReviewError,
    assign,
    confirm,
    find_creator,
    list_clusters,
    merge_clusters,
    name_cluster,
    pending_matches,
    reject,
)


def add_arguments(review: argparse.ArgumentParser) -> None:
    """The `review` subcommands, on the `face-assets review` parser."""
    sub = review.add_subparsers(dest="review_command", required=True, metavar="COMMAND")
    pending = sub.add_parser("pending", help="list matches waiting for review")
    pending.add_argument("--limit", type=int, default=50)
    confirm_p = sub.add_parser("confirm", help="the proposed creator is right (face becomes a known face)")
    confirm_p.add_argument("detections", nargs="+", type=int, metavar="DETECTION")
    reject_p = sub.add_parser("reject", help="the proposed creator is wrong (never proposed again for the face)")
    reject_p.add_argument("detections", nargs="+", type=int, metavar="DETECTION")
    reject_p.add_argument("--repropose", action="store_true", help="reopen the face for its next-best creator")
    assign_p = sub.add_parser("assign", help="the face is this creator (id or name)")
    assign_p.add_argument("detection", type=int, metavar="DETECTION")
    assign_p.add_argument("creator", metavar="CREATOR")
    why = sub.add_parser(
        "why", help="why a video was or was not tagged (with a creator, or each one it has evidence for)"
    )
    why.add_argument("video", type=int, metavar="VIDEO")
    why.add_argument("creator", nargs="?", metavar="CREATOR")
    unlearn = sub.add_parser("unlearn", help="remove references learned automatically, for good")
    unlearn.add_argument("embeddings", nargs="+", type=int, metavar="EMBEDDING")
    sub.add_parser("proposals", help="open cluster proposals: is this cluster a creator, are two clusters one person")
    clusters = sub.add_parser("clusters", help="list clusters of unknown faces")
    clusters.add_argument("--status", default="open", help="open, named, merged, dissolved or all (default open)")
    clusters.add_argument("--limit", type=int, default=50)
    cluster = sub.add_parser("cluster", help="name or merge clusters")
    csub = cluster.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")
    name = csub.add_parser("name", help="make a creator of a cluster")
    name.add_argument("cluster", type=int, metavar="CLUSTER")
    name.add_argument("name", metavar="NAME")
    name.add_argument("--existing", action="store_true", help="the creator exists already: use it")
    merge = csub.add_parser("merge", help="cluster B is the same person as cluster A: B goes into A")
    merge.add_argument("into", type=int, metavar="A")
    merge.add_argument("other", type=int, metavar="B")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `face-assets review ...` on DATABASE_URL (set by face_assets.db.instance.prepare)."""
    try:
        with connect(embedded_postgres.app_database_url()) as conn:
            lines = _dispatch(conn, args)
    except ReviewError as exc:
        print(f"error: {exc}")
        return 2
    except psycopg.errors.UndefinedTable as exc:
        print(f"error: {exc.diag.message_primary}: the face tables are not there yet (run `face-assets run` first)")
        return 2
    for line in lines:
        print(line)
    return 0


def _dispatch(conn: psycopg.Connection, args: argparse.Namespace) -> list[str]:
    command = args.review_command
    if command == "pending":
        rows = pending_matches(conn, args.limit)
        if not rows:
            return ["no match waiting for review"]
        out = [
            f"{'detection':>9}  {'video':>6}  {'video title / file':<32}  {'creator':>7}  {'creator name':<24}  "
            f"{'conf.':>5}  crop"
        ]
        for r in rows:
            conf = "" if r.confidence is None else f"{r.confidence:.2f}"
            out.append(
                f"{r.detection_id:>9}  {r.video_id:>6}  {_cut(r.video, 32):<32}  {r.creator_id:>7}  "
                f"{_cut(r.creator or '?', 24):<24}  {conf:>5}  {r.crop_path or ''}"
            )
        out.append(
            f"{len(rows)} pending match(es) shown (review confirm|reject DETECTION..., review assign DETECTION CREATOR)"
        )
        return out
    if command == "clusters":
        statuses = ("open", "named", "merged", "dissolved") if args.status == "all" else tuple(args.status.split(","))
        rows = list_clusters(conn, statuses, args.limit)
        if not rows:
            return [f"no cluster ({'/'.join(statuses)})"]
        out = [f"{'cluster':>7}  {'status':<9}  {'faces':>5}  {'videos':>6}  {'creator':<24}  representative crop"]
        for r in rows:
            who = r.creator or (f"-> cluster {r.merged_into}" if r.merged_into else "")
            out.append(
                f"{r.id:>7}  {r.status:<9}  {r.size:>5}  {r.n_videos:>6}  {_cut(who, 24):<24}  {r.crop_path or ''}"
            )
        return out
    if command == "confirm":
        return confirm(conn, args.detections).lines()
    if command == "reject":
        return reject(conn, args.detections, repropose=args.repropose).lines()
    if command == "assign":
        return assign(conn, args.detection, args.creator).lines()
    if command == "cluster" and args.cluster_command == "name":
        return name_cluster(conn, args.cluster, args.name, existing=args.existing).lines()
    if command == "cluster" and args.cluster_command == "merge":
        return merge_clusters(conn, args.into, args.other).lines()
    if command in ("why", "unlearn", "proposals"):
        return _recognition_command(conn, args)
    raise ReviewError(f"unknown review command {command}")


def _recognition_command(conn: psycopg.Connection, args: argparse.Namespace) -> list[str]:
    """`review why|unlearn|proposals`: the fusion rule's explanation, learned references, cluster proposals."""
    from face_assets.recognition import evidence
    from face_assets.recognition.cluster_proposals import open_proposals
    from face_assets.recognition.matching import ensure_schema as ensure_matching_schema

    config = RecognitionConfig.load(conn)
    if args.review_command == "why":
        creator = find_creator(conn, args.creator)[0] if args.creator else None
        return evidence.explain(conn, config, args.video, creator)
    if args.review_command == "unlearn":
        ensure_matching_schema(conn)
        removed = evidence.forget_references(conn, args.embeddings)
        if not removed:
            raise ReviewError("none of these is a learned reference: " + ", ".join(map(str, args.embeddings)))
        return [
            f"removed learned reference {e} of creator {c}; that face is never learned for it again" for e, c in removed
        ]
    rows = open_proposals(conn)
    if not rows:
        return ["no open cluster proposal"]
    return [
        f"{pid:>6}  cluster {cluster}: is this creator {creator}? (evidence {value:.1f})"
        if kind == "creator"
        else f"{pid:>6}  clusters {cluster} and {other}: one person? (evidence {value:.1f})"
        for pid, kind, cluster, creator, other, value in rows
    ]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
