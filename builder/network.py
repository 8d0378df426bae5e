"""One check before a download the user asked for from the Hugging Face Hub
(`--data hf:NAME`, a `keras_hub` preset `hf://...`): can its host be reached
at all? Offline, the Hub's client retries for half a minute, printing a line
per try; this answers in seconds, in one line that names the offline fix."""

from __future__ import annotations

import os
import socket
import urllib.parse

HUB = "https://huggingface.co"  # HF_ENDPOINT replaces it, as it does for the Hub's client
TIMEOUT = 5  # seconds to open a connection: a reachable host answers in well under that


def hub_unreachable(what: str) -> str | None:
    """Why `what` cannot be downloaded from the Hub now, or None: the Hub
    answers, or HF_HUB_OFFLINE is set (the Hub's cache is used, nothing is fetched)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or HUB)
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=TIMEOUT).close()
    except OSError as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return (
            f"cannot reach {host} to download {what} ({reason}; no network?); one downloaded before "
            "loads offline with HF_HUB_OFFLINE=1"
        )
    return None
