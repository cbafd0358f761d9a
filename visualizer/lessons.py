"""Lessons: a Markdown file of steps that drive the app (see docs/LESSONS.md). No Qt here.

    # Title                       the lesson's title; the paragraph under it introduces it
    ## A step's title             each step starts with a level-2 heading
    @lab mlp seed=0 hidden=64,32  a new run of a lab with these settings (every step until the next @lab
                                  shares it)
    @run 200                      go to iteration 200 (phase 0), forward or back in time
    @phases 3                     step 3 phases on from there (@back 2 steps back)
    @set lr 0.5                   a live setting, at an iteration's start, followed by @run/@phases
    @select 2                     inspect block 2
    @tab Feature maps             show that tab of the lab view
    @highlight curves | callout   a coloured frame and a callout over a named panel
    @ask question?                predict before it shows: the text after @reveal is hidden until Reveal
    @reveal

A step's state is where its directives, from the step that opened the lab on, leave the run: a
position (iteration, phase) and the live settings changed on the way. ``LessonRunner.route``
turns "go to step k" into engine commands, seeking back in time when the run already holds that
state (Back is exact and cheap) and starting the lab again otherwise. ``next_move`` is the one
engine command that brings the cursor closer to a target, given the latest snapshot.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from engines import StepwiseError

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
DIRECTIVES = ("lab", "run", "phases", "back", "set", "select", "tab", "highlight", "ask", "reveal")


def shipped_lessons() -> list[Path]:
    """The lesson files that ship with the app, in the order of the labs."""
    order = ["mlp", "cnn", "batch1", "resnet", "char-rnn", "lstm", "optimizers"]
    files = sorted(LESSONS_DIR.glob("*.md"))
    return sorted(files, key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.name))


@dataclass
class Step:
    title: str
    line: int                                   # where the step starts in the file (for messages)
    lab: dict | None = None                     # @lab: a new run with this config
    moves: list = field(default_factory=list)   # ("run", it) | ("phases", k) | ("back", k) | ("set", name, v)
    select: int | None = None
    tab: str | None = None
    highlight: tuple[str, str] | None = None    # (panel, callout)
    text: str = ""
    ask: str | None = None
    reveal: str = ""


@dataclass
class Lesson:
    title: str
    intro: str
    steps: list[Step]
    path: str = ""


TEXT_SETTINGS = ("hidden", "channels", "start", "optimizers", "text", "surface", "arch", "compare", "norm",
                 "activation", "optimizer", "data", "engine")


def _value(text: str, key: str = ""):
    """A setting's value as the CLI would give it: int, float, bool or text ("hidden=64" stays text)."""
    if key in TEXT_SETTINGS:
        return text
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _int_arg(arg: str, name: str, where: str, minimum: int = 0) -> int:
    try:
        value = int(arg)
    except ValueError:
        raise StepwiseError(f"{where}: @{name} needs a whole number, not {arg!r}.") from None
    if value < minimum:
        raise StepwiseError(f"{where}: @{name} needs a number of at least {minimum}, not {value}.")
    return value


def parse_lesson(text: str, path: str = "<lesson>") -> Lesson:
    """Parse a lesson; a mistake gets one sentence naming the file, the line and the fix."""
    title, intro_lines, steps = "", [], []
    step: Step | None = None
    in_reveal = False
    body: list[str] = []

    def close_step():
        nonlocal body
        if step is not None:
            paragraph = "\n".join(body).strip()
            if in_reveal:
                step.reveal = paragraph
            else:
                step.text = paragraph
        body = []

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        where = f"{path}, line {number}"
        if line.startswith("## "):
            close_step()
            step = Step(line[3:].strip(), number)
            in_reveal = False
            steps.append(step)
            continue
        if line.startswith("# ") and not title and step is None:
            title = line[2:].strip()
            continue
        if line.startswith("@"):
            if step is None:
                raise StepwiseError(f"{where}: a directive comes before the first step; start a step with "
                                    "'## Title' first.")
            name, _, arg = line[1:].partition(" ")
            arg = arg.strip()
            if name not in DIRECTIVES:
                raise StepwiseError(f"{where}: unknown directive @{name}; use one of "
                                    f"{', '.join('@' + d for d in DIRECTIVES)}.")
            if in_reveal and name != "reveal":
                raise StepwiseError(f"{where}: @{name} comes after @reveal; put directives before @ask.")
            if name == "lab":
                words = arg.split()
                if not words:
                    raise StepwiseError(f"{where}: @lab needs a lab id, e.g. '@lab mlp seed=0'.")
                config = {"lab": words[0], "seed": 0}
                for word in words[1:]:
                    key, eq, value = word.partition("=")
                    if not eq or not key:
                        raise StepwiseError(f"{where}: @lab settings are key=value, not {word!r}.")
                    key = key.replace("-", "_")
                    config[key] = _value(value, key)
                if step.lab is not None or step.moves:
                    raise StepwiseError(f"{where}: @lab must be the first move of its step; start a new step.")
                step.lab = config
            elif name == "run":
                step.moves.append(("run", _int_arg(arg, name, where)))
            elif name in ("phases", "back"):
                step.moves.append((name, _int_arg(arg or "1", name, where, minimum=1)))
            elif name == "set":
                parts = arg.split()
                if len(parts) != 2:
                    raise StepwiseError(f"{where}: @set needs a name and a value, e.g. '@set lr 0.05'.")
                try:
                    value = float(parts[1])
                except ValueError:
                    raise StepwiseError(f"{where}: @set {parts[0]} needs a number, not {parts[1]!r}.") from None
                step.moves.append(("set", parts[0], value))
            elif name == "select":
                step.select = _int_arg(arg, name, where)
            elif name == "tab":
                if not arg:
                    raise StepwiseError(f"{where}: @tab needs the tab's name as it reads in the window.")
                step.tab = arg
            elif name == "highlight":
                panel, _, callout = arg.partition("|")
                if not panel.strip():
                    raise StepwiseError(f"{where}: @highlight needs a panel name, e.g. '@highlight curves | text'.")
                step.highlight = (panel.strip(), callout.strip())
            elif name == "ask":
                if not arg:
                    raise StepwiseError(f"{where}: @ask needs the question to ask.")
                step.ask = arg
            elif name == "reveal":
                if step.ask is None:
                    raise StepwiseError(f"{where}: @reveal without @ask; ask the question first.")
                step.text = "\n".join(body).strip()
                body = []
                in_reveal = True
            continue
        if step is None:
            intro_lines.append(line)
        else:
            body.append(line)
    close_step()
    if not title:
        raise StepwiseError(f"{path}: the lesson has no title; start it with '# Title'.")
    if not steps:
        raise StepwiseError(f"{path}: the lesson has no steps; start each with '## Step title'.")
    if steps[0].lab is None:
        raise StepwiseError(f"{path}, line {steps[0].line}: the first step must open a lab with '@lab ID'.")
    for s in steps:
        if s.ask is not None and not s.reveal:
            raise StepwiseError(f"{path}, line {s.line}: step '{s.title}' asks a question but reveals nothing; "
                                "add '@reveal' and the answer after it.")
        sets = [i for i, m in enumerate(s.moves) if m[0] == "set"]
        if sets and not any(m[0] in ("run", "phases") for m in s.moves[sets[-1] + 1:]):
            raise StepwiseError(f"{path}, line {s.line}: in step '{s.title}' a @set must be followed by @run or "
                                "@phases, so the step shows what the change does.")
    return Lesson(title, "\n".join(intro_lines).strip(), steps, path)


def load_lesson(path: str | Path) -> Lesson:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StepwiseError(f"There is no lesson file {p}; check the path (--list-lessons prints the shipped ones).") from None
    except UnicodeDecodeError:
        raise StepwiseError(f"The lesson {p} is not UTF-8 text; save it as UTF-8 Markdown.") from None
    except OSError as e:
        raise StepwiseError(f"The lesson {p} cannot be read ({e.strerror}); check its permissions.") from None
    return parse_lesson(text, str(p))


# ---------------------------------------------------------------------- from steps to commands
@dataclass
class StepPlan:
    """Where step k leaves the run, from the step that opened its lab."""
    index: int
    config: dict
    target: int                     # position = iteration * phase_count + phase
    settings: list                  # the line's live-settings log: (iteration, name, value)
    ops: list                       # in order from the lab's start: ("move", position) | ("set", name, value)
    select: int | None
    step: Step


def scaled(iteration: int, scale: float) -> int:
    """Iterations under a test's scale (monotonic, so the order of @run targets stays)."""
    return iteration if scale == 1.0 else int(math.ceil(iteration * scale))


class LessonRunner:
    """Turns "go to step k" into commands; the window carries them out one by one.

    ``scale`` multiplies every @run target (tests run every directive at a few iterations)."""

    def __init__(self, lesson: Lesson, scale: float = 1.0):
        self.lesson = lesson
        self.scale = float(scale)

    def config_of(self, k: int) -> dict:
        start = self._lab_start(k)
        return dict(self.lesson.steps[start].lab)

    def _lab_start(self, k: int) -> int:
        return max(i for i in range(k + 1) if self.lesson.steps[i].lab is not None)

    def plan(self, k: int, phase_count: int) -> StepPlan:
        """Walk the steps from the one that opened the lab to k, as the Session would."""
        n = phase_count
        start = self._lab_start(k)
        position, settings, ops, select = 0, [], [], None
        for i in range(start, k + 1):
            s = self.lesson.steps[i]
            where = f"{self.lesson.path}, step {i + 1} ('{s.title}')"
            for move in s.moves:
                if move[0] == "run":
                    position = scaled(move[1], self.scale) * n
                elif move[0] == "phases":
                    position += move[1]
                elif move[0] == "back":
                    position = max(0, position - move[1])
                if move[0] == "set":
                    if position % n:
                        raise StepwiseError(f"{where}: @set must come at an iteration's start; put it after @run.")
                    at = position // n
                    # as Session.set_hyperparam: a change replaces the later log from there on (a branch)
                    settings = [e for e in settings if e[0] < at] + [(at, move[1], float(move[2]))]
                    ops.append(("set", move[1], float(move[2])))
                else:
                    ops.append(("move", position))
            if s.select is not None:
                select = s.select
        return StepPlan(k, self.config_of(k), position, settings, ops, select, self.lesson.steps[k])

    @staticmethod
    def same_config(wanted: dict, have: dict | None) -> bool:
        """The run holds the lesson's config: every setting the lesson names has the same value."""
        if not have or have.get("lab") != wanted.get("lab"):
            return False
        return all(str(have.get(k)) == str(v) for k, v in wanted.items() if k != "lab")

    @staticmethod
    def holds(plan: StepPlan, phase_count: int, line_settings: list) -> bool:
        """The current line reaches the step's state: the same live settings before its position."""
        n = phase_count

        def before(log):
            return [(int(a), str(b), float(c)) for a, b, c in log if int(a) * n < plan.target]
        return before(plan.settings) == before(line_settings)

    def route(self, k: int, phase_count: int | None, run_config: dict | None, line_settings: list | None,
              ours: bool) -> list[tuple]:
        """Commands that bring the app to step k.

        ``run_config`` and ``line_settings`` describe the run now (None: unknown); ``ours`` says the
        run was started by this lesson and the student has not started another. Returns
        [("configure", config)] when the lab must start again (call route again once it is ready),
        else the steps: ("move", position) — seek or run there — and ("set", name, value)."""
        wanted = self.config_of(k)
        if not ours or phase_count is None or not self.same_config(wanted, run_config):
            return [("configure", wanted)]
        plan = self.plan(k, phase_count)
        if line_settings is not None and self.holds(plan, phase_count, line_settings):
            return [("move", plan.target)]
        return [("configure", wanted), *plan.ops]


def next_move(snap: dict, target: int) -> tuple | None:
    """(command, argument, position it leads to): the engine command that brings the cursor of
    ``snap`` closer to ``target``; None when it is there.

    Within the iteration: step the phases; to a known iteration (back, or forward up to the
    furthest one reached): seek (exact replay); beyond it: train on."""
    n = snap["phase_count"]
    it, ph, furthest = snap["iteration"], snap["phase"], snap["furthest"]
    t_it, t_ph = divmod(target, n)
    if (it, ph) == (t_it, t_ph):
        return None
    if it == t_it and ph < t_ph:
        return ("step_phase", t_ph - ph, target)
    if t_it <= furthest:
        return ("seek", t_it, t_it * n)
    return ("run_to", t_it, t_it * n)


def reached(snap: dict, position: int) -> bool:
    """Has the snapshot arrived at ``position`` (and stopped there)?"""
    return not snap.get("playing") and snap["iteration"] * snap["phase_count"] + snap["phase"] == position


def markdown_to_html(text: str) -> str:
    """The small Markdown of lesson text: paragraphs, **bold**, *italic*, `code`, lists."""
    import html
    out = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = para.splitlines()
        if lines and all(l.lstrip().startswith(("- ", "* ")) for l in lines):
            items = "".join(f"<li>{_inline(html.escape(l.lstrip()[2:]))}</li>" for l in lines)
            out.append(f"<ul>{items}</ul>")
        elif para.strip():
            out.append(f"<p>{_inline(html.escape(' '.join(l.strip() for l in lines)))}</p>")
    return "".join(out)


def _inline(s: str) -> str:
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    s = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?!\w)", r"<i>\1</i>", s)
