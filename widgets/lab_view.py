"""The base class of every lab's view, and the settings form.

A LabView renders snapshots (plain dicts of arrays and numbers, see visualizer/host.py)
and emits intents; it never touches an engine. The window routes:
- ``command(name, args)``  -> trainer.command(name, args) in the worker; the answer comes back
  through ``on_reply(name, reply)``; a long request returns a task whose progress arrives
  through ``on_task(name, progress)``;
- ``select_block(index)``  -> the inspected block;
- ``set_hyperparam(name, value)`` -> a live setting (learning rate, ...);
- ``cancel_task(name)`` -> stop a task; ``apply_settings(values)`` -> a new run with these settings.
"""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from .common import wrapped


class LabView(QtWidgets.QWidget):
    command = QtCore.Signal(str, dict)
    select_block = QtCore.Signal(int)
    set_hyperparam = QtCore.Signal(str, float)
    cancel_task = QtCore.Signal(str)        # stop a running task (e.g. a landscape computation)
    apply_settings = QtCore.Signal(dict)    # start a new run with these settings changed (e.g. a start point)
    owns_curves = False                     # True: the view draws its own curves; the window hides its panel
    shows_network = True                    # False: the lab has no layer stack; the window hides the diagram
    inspects_ends = False                   # True: the view shows the input batch and the loss (show_end)
    # the tabs (of ``self.tabs``) that draw the selected block's arrays (snapshot["block_data"]); None: all.
    # While another tab is shown, the engine does not compute them (the window sends "view").
    block_data_tabs: tuple[str, ...] | None = None
    # of those, the tabs that draw its histograms over the batch (the layer inspector); None: all of them
    histogram_tabs: tuple[str, ...] | None = None

    def shows_block_data(self) -> bool:
        return self._current_tab_in(self.block_data_tabs)

    def shows_histograms(self) -> bool:
        return self.shows_block_data() and self._current_tab_in(self.histogram_tabs)

    def _current_tab_in(self, names: tuple[str, ...] | None) -> bool:
        tabs = getattr(self, "tabs", None)
        if names is None or not isinstance(tabs, QtWidgets.QTabWidget):
            return True
        return tabs.tabText(tabs.currentIndex()) in names

    def set_snapshot(self, snap: dict) -> None:
        raise NotImplementedError

    def on_reply(self, name: str, reply: dict) -> None:
        pass

    def on_task(self, name: str, progress: dict) -> None:
        pass

    def on_ready(self, info: dict) -> None:
        """A new run started (new lab, new settings, or a loaded model)."""

    def show_end(self, end: str) -> None:
        """The diagram's "input" or "loss" box was clicked (only when ``inspects_ends``)."""


class SettingsForm(QtWidgets.QGroupBox):
    """Structural settings (a new run on Apply) and live hyperparameters (applied at once).

    The options are declarations with ``key, label, kind, default, choices, minimum, maximum,
    tooltip`` (engines/options.py OptionSpec, handed in by the window)."""

    apply = QtCore.Signal(dict)
    hyperparam = QtCore.Signal(str, float)

    def __init__(self, parent=None):
        super().__init__("Settings", parent)
        outer = QtWidgets.QVBoxLayout(self)
        self.form = QtWidgets.QFormLayout()
        outer.addLayout(self.form)
        self.apply_button = QtWidgets.QPushButton("Apply (new run)")
        self.apply_button.setToolTip("Rebuild the network with these settings and start again from iteration 0")
        self.apply_button.clicked.connect(self._emit_apply)
        outer.addWidget(self.apply_button)
        self.live_heading = QtWidgets.QLabel("<b>Live</b> (from the next iteration)")
        self.live_heading.setVisible(False)   # shown with the first live editor (the optimizer lab has its own)
        outer.addWidget(self.live_heading)
        self.live_form = QtWidgets.QFormLayout()
        outer.addLayout(self.live_form)
        outer.addStretch(1)
        self.editors: dict[str, tuple[object, QtWidgets.QWidget]] = {}
        self.live: dict[str, QtWidgets.QDoubleSpinBox] = {}
        self.live_help: dict[str, str] = {}

    def set_options(self, options: list, values: dict) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        for spec in options:
            value = values.get(spec.key, spec.default)
            editor = self._editor(spec, value)
            editor.setToolTip(wrapped(spec.tooltip))
            self.form.addRow(getattr(spec, "form_label", spec.label), editor)
            self.form.labelForField(editor).setToolTip(wrapped(spec.tooltip))
            self.editors[spec.key] = (spec, editor)
        for key, (spec, editor) in self.editors.items():
            only_when = getattr(spec, "only_when", ())
            if only_when and only_when[0] in self.editors:
                control = self.editors[only_when[0]][1]
                wanted = str(only_when[1])
                follow = (lambda text, e=editor, w=wanted: e.setEnabled(text == w))
                control.currentTextChanged.connect(follow)
                follow(control.currentText())
        self.apply_button.setVisible(bool(options))

    @staticmethod
    def _editor(spec, value) -> QtWidgets.QWidget:
        if spec.kind == "choice":
            w = QtWidgets.QComboBox()
            w.addItems([str(c) for c in spec.choices])
            w.setCurrentText(str(value))
        elif spec.kind == "bool":
            w = QtWidgets.QCheckBox()
            w.setChecked(bool(value))
        elif spec.kind == "int":
            w = QtWidgets.QSpinBox()
            w.setRange(int(spec.minimum), int(min(spec.maximum, 2**31 - 1)))
            w.setSingleStep(int(getattr(spec, "step", 1)))   # ResNet depth 6n + 2: 8, 14, 20, ...
            w.setValue(int(value))
        elif spec.kind == "float":
            w = QtWidgets.QDoubleSpinBox()
            w.setDecimals(4)
            w.setRange(spec.minimum, spec.maximum)
            w.setSingleStep(0.01)
            w.setValue(float(value))
        else:
            w = QtWidgets.QLineEdit(",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value))
        return w

    def values(self) -> dict:
        out = {}
        for key, (spec, w) in self.editors.items():
            if isinstance(w, QtWidgets.QComboBox):
                out[key] = w.currentText()
            elif isinstance(w, QtWidgets.QCheckBox):
                out[key] = w.isChecked()
            elif isinstance(w, (QtWidgets.QSpinBox, QtWidgets.QDoubleSpinBox)):
                out[key] = w.value()
            else:
                out[key] = w.text()
        return out

    def _emit_apply(self) -> None:
        self.apply.emit(self.values())

    def live_label(self, name: str) -> str:
        """ "plain_lr" -> "lr (plain net)", "adam.beta1" -> "adam: beta1"; others as they are."""
        if "." in name:
            run, key = name.split(".", 1)
            return f"{run}: {key}"
        if name.endswith("_lr") and name != "lr":
            return f"lr ({name[:-3]} net)"
        return name

    def set_live(self, hyperparams: dict) -> None:
        """Live hyperparameters from the snapshot; editors are created once, then only updated."""
        for name, value in hyperparams.items():
            if name.startswith("freeze:"):
                continue  # frozen blocks are toggled by their lock in the network diagram
            if name not in self.live:
                box = QtWidgets.QDoubleSpinBox()
                box.setDecimals(5)
                box.setRange(0.0, 1e9)
                box.setSingleStep(0.001 if value < 0.05 else 0.01)
                box.setKeyboardTracking(False)
                box.valueChanged.connect(lambda v, n=name: self.hyperparam.emit(n, float(v)))
                self.live[name] = box
                key = name.split(".")[-1]  # "adam.beta1" -> "beta1"; "plain_lr" -> "lr"
                tip = wrapped(self.live_help.get("lr" if key.endswith("_lr") else key, ""))
                box.setToolTip(tip)
                self.live_form.addRow(self.live_label(name), box)
                self.live_heading.setVisible(True)
                self.live_form.labelForField(box).setToolTip(tip)
            box = self.live[name]
            if not box.hasFocus() and abs(box.value() - value) > 1e-12:
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)

    def clear_live(self, live_help: dict[str, str] | None = None) -> None:
        """Remove the live editors (a new run); ``live_help``: name -> tooltip of each hyperparameter."""
        self.live_help = dict(live_help or {})
        while self.live_form.rowCount():
            self.live_form.removeRow(0)
        self.live.clear()
        self.live_heading.setVisible(False)


if __name__ == "__main__":  # python -m widgets.lab_view [--screenshot PATH]: the settings form, made-up options
    from dataclasses import dataclass

    from .demo import run_demo

    @dataclass(frozen=True)
    class Option:   # the fields the form reads of engines/options.py OptionSpec (widgets import no engine)
        key: str
        label: str
        kind: str
        default: object = None
        choices: tuple = ()
        minimum: float = 0
        maximum: float = 1e9
        tooltip: str = ""
        only_when: tuple = ()

    def build() -> SettingsForm:
        form = SettingsForm()
        form.set_options([Option("hidden", "hidden sizes", "text", "256,128,64", tooltip="units per hidden layer"),
                          Option("activation", "activation", "choice", "relu", ("relu", "tanh", "sigmoid")),
                          Option("batch_size", "batch size", "int", 64, minimum=1, maximum=4096),
                          Option("dropout", "dropout p", "float", 0.2, maximum=0.95),
                          Option("normalize", "standardize inputs", "bool", False)], {"batch_size": 32})
        form.clear_live({"lr": "lr η: θ ← θ − η·∇L"})
        form.set_live({"lr": 0.05, "momentum": 0.9})
        return form

    run_demo(build, (360, 420))
