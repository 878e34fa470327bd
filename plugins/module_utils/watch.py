# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting on the API with one list and one watch rather than polling each object: list, check, watch from the
list's resourceVersion until the condition holds or the deadline passes, and list again whenever the watch ends
(its server-side timeout, 410 Gone, a dropped connection)."""

from __future__ import annotations

import time
import typing as t

from ansible_collections.nodepatch.kube.plugins.module_utils.kube import ApiException, KubeClient, Resource, api_error

# The longest a single watch request stays open before it is re-listed and re-opened.
WATCH_SECONDS = 60
RELIST_PAUSE = 0.2


def follow(client: KubeClient, resource: Resource, target: str, list_action: str, watch_action: str,
           on_list: t.Callable[[list[t.Any]], None], on_event: t.Callable[[str, t.Any], None],
           done: t.Callable[[], bool], deadline: float, **selectors: t.Any) -> bool:
    """True once ``done()`` holds, False when ``deadline`` (time.monotonic) passes first. ``on_list`` gets every
    listing's items, ``on_event`` every ADDED, MODIFIED or DELETED event's type and object. Refused credentials or
    permissions (401, 403) raise at once: they do not fix themselves."""
    while True:
        listing = client.call(client.list, resource, target=target, action=list_action, **selectors)
        on_list(listing.items)
        if done():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        events = client.watch(resource, resource_version=listing.metadata.resource_version, allow_watch_bookmarks=True,
                              timeout_seconds=max(1, int(min(remaining, WATCH_SECONDS))),
                              request_timeout=min(remaining, WATCH_SECONDS) + 5, **selectors)
        try:
            for kind, item in events:
                if kind == "ERROR":
                    break  # 410 Gone (the resourceVersion expired): list again
                if kind != "BOOKMARK":
                    on_event(kind, item)
                if done() or time.monotonic() >= deadline:
                    break
        except ApiException as error:
            if error.status in (401, 403):
                raise api_error(error, watch_action, target) from error
            time.sleep(RELIST_PAUSE)
        except Exception:  # pylint: disable=broad-exception-caught
            time.sleep(RELIST_PAUSE)  # a watch broken by the API server (restart, dropped connection)
        finally:
            events.close()  # the watch's connection back to the pool, not left open until collected
        if done():
            return True
