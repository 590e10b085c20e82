"""face_clusters and face_recognition_stats refresh by themselves after new matches, at most once per cron window,
and not while the videos they read are still being processed (face_assets/defs/automation.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

CLUSTERS, STATS = dg.AssetKey("face_clusters"), dg.AssetKey("face_recognition_stats")
START = datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc)


class Evaluator:
    def __init__(self, defs, instance):
        self.defs, self.instance, self.cursor = defs, instance, None

    def at(self, minutes: float) -> set[dg.AssetKey]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            cursor=self.cursor,
            asset_selection=dg.AssetSelection.assets(CLUSTERS, STATS),
            evaluation_time=START + timedelta(minutes=minutes),
        )
        self.cursor = result.cursor
        return {key for key in (CLUSTERS, STATS) if result.get_num_requested(key)}


@pytest.fixture
def evaluator(monkeypatch):
    monkeypatch.setenv("FACE_ASSETS_AUTOMATION_CRON", "*/10 * * * *")
    from face_assets.definitions import build_definitions

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("videos", ["1", "2", "3"])
        yield Evaluator(build_definitions(), instance)


def matched(instance, video: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization("face_matches", partition=video))


def test_refresh_once_per_cron_window_after_new_matches(evaluator):
    instance = evaluator.instance
    assert evaluator.at(0) == set()  # first evaluation: nothing new
    matched(instance, "1")
    assert evaluator.at(2) == set()  # new matches, but no cron tick since: wait (rate limit)
    assert evaluator.at(10) == {CLUSTERS, STATS}  # the 00:10 tick passed: both refresh, in one request
    assert evaluator.at(11) == set()  # handled
    matched(instance, "2")
    matched(instance, "3")
    assert evaluator.at(15) == set()  # same window: the two new videos wait for the next tick ...
    assert evaluator.at(20) == {CLUSTERS, STATS}  # ... and are taken together
    assert evaluator.at(31) == set()  # a tick with nothing new: nothing to do


def test_a_tick_during_a_stream_of_videos_is_kept_until_it_settles(evaluator):
    instance = evaluator.instance
    assert evaluator.at(0) == set()
    assert evaluator.at(10) == set()  # a tick, but no new matches: nothing, and the tick is remembered ...
    matched(instance, "1")
    assert evaluator.at(12) == {CLUSTERS, STATS}  # ... so the first new matches after it refresh at once


def test_stats_follow_new_clusters_of_their_own(evaluator):
    instance = evaluator.instance
    assert evaluator.at(0) == set()
    instance.report_runless_asset_event(dg.AssetMaterialization("face_clusters"))  # e.g. a person ran it
    assert evaluator.at(10) == {STATS}
