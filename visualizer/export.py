"""Export: the visible view or one panel as PNG (at a chosen scale) or SVG, the curves as CSV, and a
range of iterations (or a lesson's steps) recorded as an animated GIF or MP4 (imageio; MP4 through
its ffmpeg plugin). Every file is written to a temporary name in its folder and then renamed.
"""
from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engines import StepwiseError
from visualizer.lessons import next_move, reached

FORMATS = ("png", "svg")
RECORD_FORMATS = ("gif", "mp4")
MAX_FRAMES = 400


def _atomic(path: str | Path, write) -> Path:
    """write(tmp_path) then rename onto ``path``: a reader never sees half a file."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StepwiseError(f"The folder {folder} does not exist; choose another place to save {path.name}.")
    fd, tmp = tempfile.mkstemp(prefix=".stepwise-", suffix=path.suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise StepwiseError(f"Could not write {path} ({e.strerror or e}); check the folder's permissions and space.") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def render_image(widget: QtWidgets.QWidget, scale: float = 1.0) -> QtGui.QImage:
    """The widget drawn at ``scale`` × its size (text and lines drawn at that resolution)."""
    if not 0.25 <= scale <= 8:
        raise StepwiseError(f"An export scale of {scale:g} is out of range; choose between 0.25 and 8.")
    size = widget.size()
    image = QtGui.QImage(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)),
                         QtGui.QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(image)
    widget.render(painter, QtCore.QPoint(0, 0), QtGui.QRegion(),
                  QtWidgets.QWidget.RenderFlag.DrawChildren | QtWidgets.QWidget.RenderFlag.DrawWindowBackground)
    painter.end()
    image.setDevicePixelRatio(1.0)
    return image


def export_png(widget: QtWidgets.QWidget, path: str, scale: float = 1.0) -> Path:
    image = render_image(widget, scale)

    def write(tmp):
        if not image.save(tmp, "PNG"):
            raise OSError("the PNG encoder failed")
    return _atomic(path, write)


def export_svg(widget: QtWidgets.QWidget, path: str, title: str = "Stepwise") -> Path:
    from PySide6.QtSvg import QSvgGenerator

    def write(tmp):
        gen = QSvgGenerator()
        gen.setFileName(tmp)
        gen.setSize(widget.size())
        gen.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), widget.size()))
        gen.setTitle(title)
        gen.setDescription("Exported from Stepwise")
        painter = QtGui.QPainter(gen)
        widget.render(painter, QtCore.QPoint(0, 0), QtGui.QRegion(),
                      QtWidgets.QWidget.RenderFlag.DrawChildren | QtWidgets.QWidget.RenderFlag.DrawWindowBackground)
        painter.end()
    return _atomic(path, write)


def export_view(widget: QtWidgets.QWidget, path: str, scale: float = 1.0) -> Path:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "png":
        return export_png(widget, path, scale)
    if suffix == "svg":
        return export_svg(widget, path)
    raise StepwiseError(f"Cannot export a view as .{suffix or '(none)'}; name the file .png or .svg.")


def curves_table(series: dict[str, dict[int, float]]) -> tuple[list[str], list[list]]:
    """One row per iteration, one column per curve (empty where a curve has no point)."""
    keys = sorted(series)
    iterations = sorted({it for s in series.values() for it in s})
    rows = [[it] + [series[k].get(it, "") for k in keys] for it in iterations]
    return ["iteration", *keys], rows


def export_csv(series: dict[str, dict[int, float]], path: str) -> Path:
    header, rows = curves_table(series)
    if not rows:
        raise StepwiseError("There are no curve points to export yet; train a few iterations first.")

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(header)
            out.writerows(rows)
    return _atomic(path, write)


def frame_of(widget: QtWidgets.QWidget, scale: float = 1.0) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the widget as drawn now."""
    image = render_image(widget, scale).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    return data.reshape(h, image.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()  # (H, W, RGB)


def write_animation(frames: list[np.ndarray], path: str, fps: float = 4.0) -> Path:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in RECORD_FORMATS:
        raise StepwiseError(f"Cannot record as .{suffix or '(none)'}; name the file .gif or .mp4.")
    if not frames:
        raise StepwiseError("Nothing was recorded; choose a range with at least one iteration.")
    import imageio.v2 as imageio
    h = min(f.shape[0] for f in frames) // 2 * 2   # even sizes: the MP4 encoder needs them
    w = min(f.shape[1] for f in frames) // 2 * 2
    frames = [f[:h, :w] for f in frames]

    def write(tmp):
        if suffix == "gif":
            imageio.mimsave(tmp, frames, format="GIF", duration=1000.0 / fps, loop=0)
        else:
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2,
                                    quality=7) as writer:
                for f in frames:
                    writer.append_data(f)
    return _atomic(path, write)


class Recorder(QtCore.QObject):
    """Steps the run through iterations ``start, start+every, ... stop`` (seeking or training
    there, one at a time), grabs ``widget`` at each, and writes the animation."""

    finished = QtCore.Signal(str)     # the path written
    failed = QtCore.Signal(str)

    def __init__(self, window, widget: QtWidgets.QWidget, path: str, start: int, stop: int, every: int = 1,
                 fps: float = 4.0, scale: float = 0.5):
        super().__init__(window)
        if stop < start or every < 1:
            raise StepwiseError("Record: the last iteration must not come before the first, and the step must be 1 or more.")
        targets = list(range(start, stop + 1, every))
        if len(targets) > MAX_FRAMES:
            raise StepwiseError(f"Record: {len(targets)} frames is too many (at most {MAX_FRAMES}); "
                                "record every few iterations instead.")
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix not in RECORD_FORMATS:
            raise StepwiseError(f"Cannot record as .{suffix or '(none)'}; name the file .gif or .mp4.")
        self.window, self.widget, self.path = window, widget, path
        self.targets, self.fps, self.scale = targets, fps, scale
        self.frames: list[np.ndarray] = []
        self.expect: int | None = None
        window.client.snapshot.connect(self._on_snapshot)
        window.client.error.connect(self._on_error)

    def start(self) -> None:
        self._next()

    def _next(self) -> None:
        snap = self.window.last_snapshot
        if not self.targets:
            return self._finish()
        n = snap["phase_count"]
        target = self.targets[0] * n
        move = next_move(snap, target)
        if move is None:
            self.targets.pop(0)
            self.frames.append(frame_of(self.widget, self.scale))
            QtCore.QTimer.singleShot(0, self._next)
            return
        cmd, arg, self.expect = move
        for _ in range(arg if cmd == "step_phase" else 1):
            self.window.client.send(cmd, None if cmd == "step_phase" else arg)

    def _on_snapshot(self, snap: dict) -> None:
        if self.expect is not None and reached(snap, self.expect):
            self.expect = None
            QtCore.QTimer.singleShot(0, self._next)  # after the window has drawn this snapshot

    def _on_error(self, message: str) -> None:
        if self.expect is not None:
            self.expect = None
            self._disconnect()
            self.failed.emit(message)

    def _disconnect(self) -> None:
        for signal, slot in ((self.window.client.snapshot, self._on_snapshot), (self.window.client.error, self._on_error)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def _finish(self) -> None:
        self._disconnect()
        try:
            write_animation(self.frames, self.path, self.fps)
        except StepwiseError as e:
            self.failed.emit(str(e))
            return
        self.finished.emit(self.path)


class LessonRecorder(QtCore.QObject):
    """Every step of an open lesson, one frame each (held ``seconds`` per step)."""

    finished = QtCore.Signal(str)
    failed = QtCore.Signal(str)

    def __init__(self, window, controller, path: str, seconds: float = 2.0, scale: float = 0.5):
        super().__init__(window)
        self.window, self.controller, self.path = window, controller, path
        self.seconds, self.scale = seconds, scale
        self.frames: list[np.ndarray] = []
        controller.arrived.connect(self._arrived)
        controller.failed.connect(self._failed)

    def start(self) -> None:
        self.controller.goto(0)

    def _arrived(self, index: int) -> None:
        QtCore.QTimer.singleShot(0, lambda: self._grab(index))

    def _grab(self, index: int) -> None:
        self.frames.append(frame_of(self.window, self.scale))
        if index + 1 < len(self.controller.lesson.steps):
            self.controller.goto(index + 1)
            return
        self._done()
        try:
            write_animation(self.frames, self.path, fps=1.0 / self.seconds)
        except StepwiseError as e:
            self.failed.emit(str(e))
            return
        self.finished.emit(self.path)

    def _failed(self, message: str) -> None:
        self._done()
        self.failed.emit(message)

    def _done(self) -> None:
        for signal, slot in ((self.controller.arrived, self._arrived), (self.controller.failed, self._failed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
