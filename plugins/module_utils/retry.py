# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jittered exponential backoff, applied where API calls are made rather than as loops through the code."""

from __future__ import annotations

import random
import time
import typing as t

T = t.TypeVar("T")


def backoff_delays(attempts: int, base: float = 0.5, cap: float = 10.0) -> t.Iterator[float]:
    """Full-jitter delays for ``attempts - 1`` retries (AWS architecture blog's "full jitter")."""
    for attempt in range(attempts - 1):
        yield random.uniform(0, min(cap, base * (2 ** attempt)))


def call_with_retries(call: t.Callable[[], T], is_retryable: t.Callable[[BaseException], bool],
                      attempts: int = 6, base: float = 0.5, cap: float = 10.0,
                      sleep: t.Callable[[float], None] = time.sleep,
                      on_retry: t.Callable[[BaseException], None] | None = None,
                      wait_hint: t.Callable[[BaseException], float | None] | None = None) -> T:
    """Run ``call``; when it raises something ``is_retryable`` accepts, sleep and try again, up to ``attempts`` times.

    The same loop serves transient API failures and read-modify-write conflicts (``errors.is_conflict``): each
    caller states its bounds, ``base=0`` retrying at once. ``on_retry`` sees each error that is retried.
    ``wait_hint`` reads how long the server asked to wait (HTTP Retry-After): the pause is at least that, and
    never more than ``cap``, so a server asking for an hour cannot stall the caller past its stated bounds."""
    delays = backoff_delays(attempts, base, cap)
    while True:
        try:
            return call()
        except Exception as error:  # pylint: disable=broad-exception-caught
            if not is_retryable(error):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            asked = wait_hint(error) if wait_hint is not None else None
            if asked is not None:
                delay = max(delay, min(asked, cap))
            if on_retry is not None:
                on_retry(error)
            sleep(delay)
