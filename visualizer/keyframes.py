"""Where the Session keeps its keyframes: evenly spaced, newest in memory, older ones on disk.

A keyframe is a trainer's whole state at an iteration boundary (``Trainer.get_state()``), keyed by
(line, iteration): a line is one branch of the run. Keyframes stand at multiples of ``interval``,
a power of two. When memory is full the oldest keyframes go to a cache folder on disk; when the
disk budget is full too, the interval doubles and every keyframe off the new grid is dropped, so
the spacing stays even over the whole run and a jump anywhere replays about as much as anywhere
else. The cache folder is removed by ``close()``; folders left by a process that died are removed
the next time a store is made.

``NearPool`` holds a few temporary keyframes around the cursor (left behind by replay and by play),
so pressing ← or Shift+← again and again stays cheap. No Qt here.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable

Key = tuple[int, int]  # (line, iteration)

MEMORY_BUDGET = 384 << 20     # keyframes in memory; NearPool takes the rest of 512 MB
POOL_BUDGET = 128 << 20
DISK_BUDGET = 8 << 30        # ...and never more than half the free space on the cache's disk


def state_nbytes(obj) -> int:
    """Approximate memory of a keyframe: the arrays and tensors inside nested containers."""
    if isinstance(obj, dict):
        return sum(state_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(state_nbytes(v) for v in obj)
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(obj, "element_size") and hasattr(obj, "nelement"):
        return obj.element_size() * obj.nelement()
    return 64


def cache_root() -> Path:
    """The user cache folder (``$STEPWISE_CACHE``, as for the MNIST download)."""
    base = os.environ.get("STEPWISE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "stepwise")
    return Path(base) / "keyframes"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_folders(root: Path) -> None:
    """Folders of stores whose process is gone (killed before it could clean up)."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class KeyframeStore:
    def __init__(self, memory_budget: int = MEMORY_BUDGET, disk_budget: int = DISK_BUDGET,
                 interval: int = 1, max_count: int | None = None):
        self.memory_budget = memory_budget
        self.disk_budget = disk_budget
        self.interval = interval
        self.max_count = max_count          # a cap on the number of keyframes (tests)
        self.memory: dict[Key, Any] = {}    # in insertion order: the oldest spill first
        self.on_disk: dict[Key, Path] = {}
        self.sizes: dict[Key, int] = {}
        self.pinned: set[Key] = set()
        self._folder: Path | None = None
        self.disk_error: str | None = None  # why the disk tier was given up, if it was
        self._free_half: int | None = None  # half the free space on the cache's disk, seen at the first spill

    # ---------------------------------------------------------------- reading
    def __contains__(self, key: Key) -> bool:
        return key in self.memory or key in self.on_disk

    def __len__(self) -> int:
        return len(self.memory) + len(self.on_disk)

    def keys(self) -> list[Key]:
        return sorted(list(self.memory) + list(self.on_disk))

    def iterations(self, line: int) -> list[int]:
        return sorted(it for (l, it) in self.keys() if l == line)

    def get(self, key: Key) -> Any:
        if key in self.memory:
            return self.memory[key]
        from engines.state_io import load_tree
        return load_tree(self.on_disk[key])

    def memory_bytes(self) -> int:
        return sum(self.sizes[k] for k in self.memory)

    def disk_bytes(self) -> int:
        return sum(self.sizes[k] for k in self.on_disk)

    # ---------------------------------------------------------------- writing
    def on_grid(self, iteration: int) -> bool:
        return iteration % self.interval == 0

    def put(self, key: Key, state: Any, pin: bool = False) -> None:
        self.discard(key)
        self.memory[key] = state
        self.sizes[key] = state_nbytes(state)
        if pin:
            self.pinned.add(key)
        self._enforce()

    def discard(self, key: Key) -> None:
        self.memory.pop(key, None)
        path = self.on_disk.pop(key, None)
        if path is not None:
            path.unlink(missing_ok=True)
        self.sizes.pop(key, None)
        self.pinned.discard(key)

    def discard_where(self, drop) -> None:
        for key in [k for k in self.keys() if drop(k)]:
            self.discard(key)

    def _enforce(self) -> None:
        while self.max_count is not None and len(self) > self.max_count and self.widen():
            pass
        # the newest keyframe always stays in memory; older ones spill to disk, oldest first
        while self.memory_bytes() > self.memory_budget and len(self.memory) > 1:
            if not self._spill(next(iter(self.memory))) and not self.widen():
                break
        while self.disk_bytes() > self.disk_limit() and self.widen():
            pass

    def disk_limit(self) -> int:
        """The disk budget, or half the free space on the cache's disk when that is less."""
        return self.disk_budget if self._free_half is None else min(self.disk_budget, self._free_half)

    def narrow(self, interval: int) -> None:
        """A smaller power-of-two spacing from now on (every keyframe stays on the finer grid)."""
        if interval < self.interval:
            self.interval = interval

    def _spill(self, key: Key) -> bool:
        """Move one keyframe from memory to the disk tier; False when the disk is full or failing."""
        if self.disk_budget <= 0 or self.disk_error:
            return False
        from engines import StepwiseError
        from engines.state_io import save_tree
        try:
            folder = self.folder()
            if self._free_half is None:
                self._free_half = shutil.disk_usage(folder).free // 2
            if self.disk_bytes() + self.sizes[key] > self.disk_limit():
                return False
            path = folder / f"{key[0]}-{key[1]}.npz"
            save_tree(path, self.memory[key], durable=False)  # a scratch file: no fsync
        except (OSError, StepwiseError) as e:
            self.disk_error = str(e)  # memory only from now on: the interval widens instead
            return False
        self.on_disk[key] = path
        del self.memory[key]
        return True

    def widen(self) -> bool:
        """Double the interval and drop every keyframe off the new grid (pinned ones stay)."""
        if self.interval >= 1 << 20:
            return False
        self.interval *= 2
        self.discard_where(lambda k: k not in self.pinned and k[1] % self.interval != 0)
        return True

    def folder(self) -> Path:
        if self._folder is None:
            root = cache_root()
            root.mkdir(parents=True, exist_ok=True)
            remove_stale_folders(root)
            self._folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
        return self._folder

    def close(self) -> None:
        """Forget everything and remove the cache folder."""
        self.memory.clear()
        self.on_disk.clear()
        self.sizes.clear()
        self.pinned.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


class NearPool:
    """A few temporary keyframes near the cursor, within a byte budget; the farthest go first."""

    def __init__(self, budget: int = POOL_BUDGET):
        self.budget = budget
        self.states: dict[Key, Any] = {}
        self.sizes: dict[Key, int] = {}

    def __contains__(self, key: Key) -> bool:
        return key in self.states

    def __len__(self) -> int:
        return len(self.states)

    def keys(self) -> Iterable[Key]:
        return self.states.keys()

    def get(self, key: Key) -> Any:
        return self.states[key]

    def nbytes(self) -> int:
        return sum(self.sizes.values())

    def capacity(self, state_bytes: int) -> int:
        return max(0, self.budget // max(1, state_bytes))

    def put(self, key: Key, state: Any, cursor: Key) -> None:
        size = state_nbytes(state)
        if size > self.budget:
            return
        self.states[key] = state
        self.sizes[key] = size
        while self.nbytes() > self.budget:
            far = max(self.states, key=lambda k: abs(k[1] - cursor[1]))
            del self.states[far], self.sizes[far]

    def discard_where(self, drop) -> None:
        for key in [k for k in self.states if drop(k)]:
            del self.states[key], self.sizes[key]

    def clear(self) -> None:
        self.states.clear()
        self.sizes.clear()
