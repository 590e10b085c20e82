"""No step that a database outage can fail (issue 17): checks, sensor and schedule ticks, ops (face_assets.db.retries).

The asset steps' own retry is tested in cli/test_preflight.py; the whole thing against the real servers, with the
database stopped, in faults/test_database_outage.py. Here: every step that needs the database has DATABASE_RETRY,
a check rides out a lost connection and, when the database stays away, reports that it could not run instead of
failing the run; every sensor and schedule that needs the database skips, saying so, with its cursor kept. A
database "away" is a real refused connection (a closed port), not a stand-in.
"""

from __future__ import annotations

import socket

import psycopg
import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    RetryPolicy,
    SkipReason,
    asset,
    asset_check,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from face_assets.db import retries
from face_assets.db.retries import (
    DATABASE_RETRY,
    report_if_database_unavailable,
    retry_transient,
    skip_while_database_unavailable,
)
from face_assets.defs.resources import PostgresResource

QUICK = RetryPolicy(max_retries=2, delay=0.1)  # the checks' DATABASE_RETRY waits up to a minute: same logic


def refused_url() -> str:
    """A PostgreSQL URL nothing listens on: what a stopped server gives a client (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/face_assets?connect_timeout=2"


def _check_run(body, url: str, instance, policy: RetryPolicy = QUICK):
    attempts = []

    @asset
    def thing() -> None:
        return None

    @asset_check(asset=thing, blocking=False, retry_policy=policy)
    @report_if_database_unavailable(policy)
    def thing_is_fine(context: AssetCheckExecutionContext, database: PostgresResource) -> AssetCheckResult:
        attempts.append(context.retry_number)
        return body(context, database)

    result = materialize(
        [thing, thing_is_fine],
        resources={"database": PostgresResource(url=url)},
        instance=instance,
        raise_on_error=False,
    )
    evaluations = result.get_asset_check_evaluations()
    return result, attempts, evaluations


def _count_rows(context, database) -> AssetCheckResult:
    with database.connect() as conn:
        if context.retry_number == 0:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            with psycopg.connect(database.url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))  # what a server restart does to it
        (n,) = conn.execute("SELECT 1").fetchone()
    return AssetCheckResult(passed=n == 1)


def test_a_check_that_loses_its_connection_is_retried_and_passes(fresh_db, dagster_instance):
    result, attempts, evaluations = _check_run(_count_rows, fresh_db, dagster_instance)
    assert result.success
    assert attempts == [0, 1]
    (evaluation,) = evaluations
    assert evaluation.passed and "could_not_run" not in evaluation.metadata


def test_a_check_whose_database_stays_away_says_so_and_the_run_succeeds(dagster_instance):
    result, attempts, evaluations = _check_run(_count_rows, refused_url(), dagster_instance)
    assert result.success, "a non-blocking check that cannot reach the database failed the run"
    assert attempts == [0, 1, 2]  # every attempt the policy allows, then the report
    (evaluation,) = evaluations
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.description.startswith("could not run: database unavailable through 3 attempt(s)")
    assert evaluation.metadata["could_not_run"].value == "database unavailable"
    assert evaluation.metadata["attempts"].value == 3
    assert "nobody" not in evaluation.description  # no part of the URL beyond what psycopg says of the address


def test_a_check_with_a_real_error_fails_at_once(fresh_db, dagster_instance):
    def broken(context, database):
        with database.connect() as conn:
            conn.execute("SELECT * FROM no_such_table")

    result, attempts, evaluations = _check_run(broken, fresh_db, dagster_instance)
    assert not result.success and attempts == [0] and not evaluations
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "UndefinedTable" in failure and "not retried" in failure


def _project():
    from face_assets.definitions import defs

    return defs


def test_every_step_that_needs_the_database_retries_like_the_asset_steps():
    defs = _project()
    repository = defs.get_repository_def()
    steps = {}
    for assets_def in repository.assets_defs_by_key.values():
        if "database" in assets_def.required_resource_keys and assets_def.is_executable:
            steps[f"asset step {assets_def.node_def.name}"] = assets_def.node_def.retry_policy
    for checks_def in repository.asset_checks_defs_by_key.values():
        if "database" in checks_def.required_resource_keys:
            steps[f"check {checks_def.node_def.name}"] = checks_def.node_def.retry_policy
    for job in defs.resolve_all_job_defs():
        for node in job.graph.node_defs:
            if "database" in getattr(node, "required_resource_keys", ()):
                steps[f"op {node.name} of {job.name}"] = node.retry_policy
    checks = [name for name in steps if name.startswith("check ")]
    assert len(checks) >= 4 and any(name.startswith("op rematch_faces") for name in steps)
    wrong = {name: policy for name, policy in steps.items() if policy != DATABASE_RETRY}
    assert not wrong, f"steps that need the database without DATABASE_RETRY: {wrong}"


def test_every_sensor_and_schedule_that_needs_the_database_skips_while_it_is_away(monkeypatch, dagster_instance):
    monkeypatch.setattr(retries, "TICK_RETRY_SECONDS", 1.5)  # the ticks' own budget is 10 s; the same path
    defs = _project()
    database = PostgresResource(url=refused_url())
    from face_assets.defs.faces.resources import FaceEngineResource

    resources = {"database": database, "face_engine": FaceEngineResource()}
    evaluated = []
    for sensor_def in defs.get_repository_def().sensor_defs:
        if "database" not in sensor_def.required_resource_keys:
            continue
        # Contexts closed as the daemon closes them: an open one leaves Dagster's current state storage behind.
        with build_sensor_context(instance=dagster_instance, cursor='{"scans": 7}', resources=resources) as context:
            result = sensor_def(context)
            assert context.cursor == '{"scans": 7}', f"{sensor_def.name} changed its cursor on an outage"
        assert isinstance(result, SkipReason), (sensor_def.name, result)
        assert result.skip_message.startswith("database unavailable: OperationalError"), result.skip_message
        evaluated.append(sensor_def.name)
    for schedule_def in defs.get_repository_def().schedule_defs:
        if "database" not in schedule_def.required_resource_keys:
            continue
        with build_schedule_context(instance=dagster_instance, resources=resources) as context:
            result = schedule_def(context)
        assert isinstance(result, SkipReason), (schedule_def.name, result)
        assert result.skip_message.startswith("database unavailable: OperationalError"), result.skip_message
        evaluated.append(schedule_def.name)
    assert {"library_sensor", "creator_pictures_sensor", "rematch_schedule"} <= set(evaluated)


def test_a_tick_retries_within_its_budget_and_other_errors_still_raise(fresh_db):
    urls = iter([refused_url(), refused_url(), fresh_db])  # away twice, then back

    def count(url: str) -> int:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT 41 + 1").fetchone()[0]

    assert retry_transient(lambda: count(next(urls)), seconds=30, first_delay=0.01) == 42

    @skip_while_database_unavailable(seconds=30)
    def tick(context, database: PostgresResource):
        with database.connect() as conn:
            conn.execute("SELECT * FROM no_such_table")

    with pytest.raises(psycopg.errors.UndefinedTable):  # a bug is an error tick, as before: not hidden as a skip
        tick(None, PostgresResource(url=fresh_db))


def test_the_wrappers_keep_what_dagster_reads_from_the_signature():
    import inspect

    @report_if_database_unavailable()
    def check(context: AssetCheckExecutionContext, database: PostgresResource) -> AssetCheckResult: ...

    @skip_while_database_unavailable()
    def tick(context: AssetExecutionContext, database: PostgresResource): ...

    for fn in (check, tick):
        parameters = inspect.signature(fn).parameters
        assert list(parameters) == ["context", "database"]
        assert parameters["database"].annotation is PostgresResource
