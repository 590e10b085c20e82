"""How database steps retry: a PostgreSQL restart or a dropped connection should cost a retry, not a failed run.

Every step that writes the application database uses this policy. Failures that retrying cannot fix (an
unreadable video) raise `dagster.Failure(allow_retries=False)` instead.
"""

from dagster import Backoff, Jitter, RetryPolicy

DATABASE_RETRY = RetryPolicy(max_retries=4, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
