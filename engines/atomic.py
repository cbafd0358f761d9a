"""Writing files so that nothing is lost: all of the new file, or the old one untouched.

Every save (models of both engines, sessions, autosaves, screenshots) goes through
``atomic_write``: the bytes go to a temporary file in the target's folder, are flushed and
fsync'ed, and only then replace the target with ``os.replace`` (atomic on POSIX and Windows
within one file system). A failed write (a full disk, a vanished folder) removes the temporary
file, leaves the earlier file as it was, and raises StepwiseError with one sentence.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from . import StepwiseError


def _reason(e: BaseException, folder: Path) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    try:
        if shutil.disk_usage(folder).free < 1 << 20:
            return "no space left on device"
    except OSError:
        pass
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def check_writable(path: str | os.PathLike, what: str = "the file") -> Path:
    """The target as a Path, once it is sure a file can be written there (checked before work
    that would be lost: `--save` is checked before training starts)."""
    target = Path(path).expanduser()
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise StepwiseError(f"{target} is a folder; give a file name to save {what} to.")
    if not folder.exists():
        raise StepwiseError(f"The folder {folder} does not exist; create it or choose another place for {what}.")
    if not folder.is_dir():
        raise StepwiseError(f"{folder} is a file, not a folder; choose another place for {what}.")
    try:  # a real probe: os.access says yes to root even on a read-only mount
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise StepwiseError(f"Cannot write {what} in the folder {folder} ({_reason(e, folder)}); "
                            "choose another place.") from None
    return target


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], what: str = "the file",
                 durable: bool = True) -> None:
    """Write ``path`` through ``write(file)``: all of it or nothing (the old file stays).

    ``durable=False`` skips the fsync (~12 ms per 10 MB here): for scratch files that a crash may
    lose anyway (the keyframe cache), still never half-written under their name."""
    target = check_writable(path, what)
    folder = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it (mkstemp makes 0600)
        os.replace(tmp, target)
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as a RuntimeError
        _remove(tmp)
        kept = " (the earlier file there is unchanged)" if target.exists() else ""
        raise StepwiseError(f"Could not write {what} to {target}: {_reason(e, folder)}{kept}; "
                            "free some space or choose another place.") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
