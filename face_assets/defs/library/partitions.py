"""Partitions: every available video is a partition of the per-video assets, keyed by its `videos.id` as text."""

from dagster import DynamicPartitionsDefinition

video_partitions = DynamicPartitionsDefinition(name="videos")
