"""Atomic writes: every file the project writes goes through here, so a
crash or an error leaves either the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside `path`; on success it replaces `path`.
    `suffix` keeps an extension a writer insists on (Keras wants `.keras`)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix or ".tmp",
                                         dir=directory)
    os.close(handle)
    try:
        yield temporary
        if os.path.isfile(temporary):
            os.chmod(temporary, 0o666 & ~_umask())      # mkstemp makes 0600; give the usual permissions
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
