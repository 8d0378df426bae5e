"""A training run that stops before its last epoch — Ctrl-C, a full disk —
stops with its last completed epoch checkpointed (atomically), which is where
`--resume` continues."""

from __future__ import annotations

import errno

from ..errors import BuilderError
from ..files import target_of

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # EFBIG: a file size limit (ulimit -f) was reached


class TrainingStopped(BuilderError):
    """Training stopped at `epoch`; `out` is the run folder to resume (a sweep's
    or search's folder, which `resumable` marks: its finished trials count)."""

    def __init__(self, reason: str, epoch: int, out: str, exit_code: int, resumable: bool = False):
        super().__init__(f"{reason} at epoch {epoch}")
        self.epoch = epoch
        self.out = out
        self.exit_code = exit_code
        self.resumable = resumable or epoch > 1


def stopped(err: BaseException, epoch: int, out: str) -> TrainingStopped | None:
    """The TrainingStopped that `err`, raised while training, means, or None for other failures."""
    if isinstance(err, KeyboardInterrupt):
        return TrainingStopped("interrupted", epoch, out, 130)
    if isinstance(err, OSError) and err.errno in DISK_FULL:
        where = f"writing {target_of(err.filename)}" if err.filename else f"writing into {out}"
        if err.errno == errno.EFBIG:  # the process's file size limit (ulimit -f), not the disk
            return TrainingStopped(
                f"a file reached the size limit ({err.strerror}, {where}); raise it (ulimit -f). Stopped", epoch, out, 1
            )
        return TrainingStopped(f"the disk is full ({err.strerror}, {where}); free some space. Stopped", epoch, out, 1)
    if "No space left on device" in str(err):  # TensorFlow's own writers (a disk cache, logs)
        return TrainingStopped("the disk is full (No space left on device); free some space. Stopped", epoch, out, 1)
    return None
