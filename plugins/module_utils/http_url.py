# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""URL options (webhooks, Prometheus) checked before anything is sent: http or https, with a host."""

from __future__ import annotations

from urllib.parse import urlsplit


def check_http_url(option: str, url: str, secret: bool = False) -> None:
    """ValueError naming ``option`` for a URL no request can go to. A ``secret`` URL (a webhook's path is its
    credential) is not repeated in the message."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        shown = "the URL given" if secret else repr(url)
        raise ValueError(f"{option}: {shown} is not an http:// or https:// URL with a host")
