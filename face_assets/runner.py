"""Materializes a selection of assets in process (what `face-assets run` does)."""

from __future__ import annotations

from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job

CLI_JOB = "face_assets_cli_run"


def run_pipeline(instance: DagsterInstance, selection: str | None = None) -> bool:
    """Run the selection (default: every asset) and return whether every step and blocking check passed."""
    from face_assets.definitions import build_definitions

    defs = build_definitions()
    job = define_asset_job(CLI_JOB, selection=selection or AssetSelection.all())
    job_def = Definitions.merge(defs, Definitions(jobs=[job])).resolve_job_def(CLI_JOB)
    result = job_def.execute_in_process(
        instance=instance,
        raise_on_error=False,
        # Progress output: step starts, successes, failures and our own log lines, without engine chatter.
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    failed_checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    for check in failed_checks:
        print(f"check failed: {check.asset_key.to_user_string()} {check.check_name}")
    return result.success and not failed_checks
