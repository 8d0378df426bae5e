"""Writing files safely: every file and folder the project writes goes through
here. Each is made under a staging name beside its target and renamed into
place whole, so a crash, an error or Ctrl-C leaves either the old target or
the new one, never half of one, and nothing but the target is touched.

A user's named output (`-o`) that already exists is refused unless the
caller allows overwriting; even then only the target itself is replaced.
Staging entries left by a killed process are removed by the next write
beside them.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat

from .errors import BuilderError

_STAGING = ".builder-staging"


class OutputError(BuilderError):
    """A named output that cannot or may not be written."""


@contextlib.contextmanager
def publish(path, *, overwrite=False, suffix=""):
    """Yield a staging path beside `path` for a file or a folder to be made
    there; on success it becomes `path`. `suffix` keeps an extension a writer
    insists on (Keras wants `.keras`)."""
    shown = os.fspath(path)
    target = os.path.abspath(shown)
    _check_target(shown, target, overwrite)
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    _remove_stale_staging(parent, name)
    staging = os.path.join(parent, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{_STAGING}{suffix}")
    try:
        yield staging
        if os.path.isfile(staging):
            os.chmod(staging, 0o666 & ~_umask())  # give the usual permissions
        _swap(staging, target)
    finally:
        _remove(staging)


def target_of(path) -> str:
    """The file a staging path stands for (for messages); other paths unchanged."""
    folder, name = os.path.split(os.fspath(path))
    match = re.fullmatch(r"\.(.+)\.\d+\.[0-9a-f]+" + re.escape(_STAGING) + r".*", name)
    return os.path.join(folder, match.group(1)) if match else os.fspath(path)


def atomic_path(path, suffix=""):
    """`publish` for the project's own files (checkpoints, records), which it replaces as it goes."""
    return publish(path, overwrite=True, suffix=suffix)


def write_atomic(path, data: bytes, *, overwrite=True) -> None:
    with publish(path, overwrite=overwrite) as temporary, open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def not_regular(path) -> str | None:
    """What `path` is, when it exists but is not a regular file (a folder, a
    FIFO, a device): reading it would fail, block or never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    for test, what in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return what
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_bounded(path, limit: int) -> bytes:
    """A regular file's bytes, at most `limit` (OSError or ValueError otherwise),
    read in chunks: memory for the file's own size, never for the limit's."""
    what = not_regular(path)
    if what:
        raise ValueError(f"it is {what}, not a regular file")
    chunks, total = [], 0
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > limit:
            total = limit + 1  # larger already: nothing is read
        while total <= limit:
            chunk = handle.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise ValueError(f"the file is larger than {limit:,} bytes")
    return b"".join(chunks)


_CHUNK = 1 << 20


def check_output(path, overwrite=False) -> None:
    """Raise OutputError now, before any work, if `publish` would refuse `path`."""
    _check_target(os.fspath(path), os.path.abspath(os.fspath(path)), overwrite)


def _check_target(shown, target, overwrite):
    here = os.path.abspath(os.getcwd())
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        raise OutputError(f"{shown} is the current folder or holds it; name a new file or folder to write")
    folder = os.path.dirname(target)
    while folder and not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if folder and not os.path.isdir(folder):
        raise OutputError(f"cannot write {shown}: {folder} is a file, not a folder")
    if os.path.lexists(target):
        if not overwrite:
            raise OutputError(f"{shown} already exists; choose another name, or pass --overwrite to replace it")
        mode = os.lstat(target).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            raise OutputError(f"{shown} is not a regular file or folder; it is not replaced")


def _swap(staging, target):
    """Put `staging` at `target`; an existing target is moved aside first and
    removed only once the new one is in place."""
    if not os.path.lexists(target) or (
        os.path.isfile(staging) and not os.path.isdir(target) and not os.path.islink(target)
    ):
        os.replace(staging, target)
        return
    parent, name = os.path.split(target)
    old = os.path.join(parent, f".{name}.{os.getpid()}.{secrets.token_hex(4)}{_STAGING}.old")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove(old)


def _remove(path):
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _remove_stale_staging(parent, name):
    """Staging entries for `name` whose process is gone (killed mid-write)."""
    prefix = f".{name}."
    with contextlib.suppress(OSError):
        for entry in os.listdir(parent):
            if entry.startswith(prefix) and _STAGING in entry:
                pid = entry[len(prefix) :].split(".", 1)[0]
                if pid.isdigit() and not process_alive(int(pid)):
                    _remove(os.path.join(parent, entry))


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs (staging files and run-folder locks name their writer)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
