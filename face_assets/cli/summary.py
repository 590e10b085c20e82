"""A short report of what the pipeline produced (printed by `face-assets run` and `make demo`)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from face_assets.db import embedded_postgres


def migration_counts(conn: psycopg.Connection) -> list[tuple[str, int, int, int]]:
    """(table, rows in PostgreSQL, rows rejected, rows with NULLed values) per migrated legacy table."""
    from face_assets.defs.migration.assets import table_graph

    present = [t for t in table_graph() if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is not None]
    if not present:
        return []
    counts = dict(
        conn.execute(
            sql.SQL(" UNION ALL ").join(
                sql.SQL("SELECT {name}, count(*) FROM {t}").format(name=sql.Literal(t), t=sql.Identifier(t))
                for t in present
            )
        ).fetchall()
    )
    rejects = {
        t: (r, n)
        for t, r, n in conn.execute(
            "SELECT table_name, count(*) FILTER (WHERE disposition = 'row_rejected'),"
            " count(*) FILTER (WHERE disposition = 'value_nulled') FROM migration_rejects GROUP BY table_name"
        )
    }
    return [(t, counts[t], *rejects.get(t, (0, 0))) for t in present]


def print_summary(truth: Path | None = None) -> None:
    with psycopg.connect(embedded_postgres.app_database_url()) as conn:
        if conn.execute("SELECT to_regclass('migration_rejects')").fetchone()[0] is None:
            print("nothing migrated yet")
            return
        rows = migration_counts(conn)
        print(f"\n{'legacy table':<28}{'rows':>8}{'rejected':>10}{'NULLed':>8}")
        for table, count, rejected, nulled in rows:
            print(f"{table:<28}{count:>8}{rejected:>10}{nulled:>8}")
        print(
            f"{len(rows)} tables, {sum(r[1] for r in rows)} rows in PostgreSQL, "
            f"{sum(r[2] for r in rows)} rows rejected (reasons in table migration_rejects)"
        )
        if conn.execute("SELECT to_regclass('video_face_detections')").fetchone()[0] is None:
            return
        from face_assets.review.stats import SECTIONS, recognition_stats

        stats = recognition_stats(conn)
        print("\nface recognition")
        for section, key, label in SECTIONS:
            print(f"  {section:<9}{label:<52}{stats[key]:>8}")
        if truth is not None and truth.exists():
            from face_assets.cli.evaluation import evaluate

            print(f"\ncompared with {truth}")
            for line in evaluate(conn, truth).lines():
                print(f"  {line}")
