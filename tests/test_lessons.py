"""Lessons: the format's mistakes get one sentence; the runner's plans; every shipped lesson runs
end to end in the window (every step executes, every directive's target exists); Back is exact."""
import pytest

from engines import StepwiseError
from visualizer.lessons import LessonRunner, next_move, parse_lesson, reached, shipped_lessons

GOOD = """# A lesson
Intro.

## One
@lab mlp seed=3 hidden=16 batch_size=8
@run 10
@phases 2
Text of one.

## Two
@run 10
@set lr 0.2
@run 20
@ask Up or down?
@reveal
Down.

## Three
@run 5
@phases 1
@select 2
"""


def test_a_good_lesson_parses_into_steps():
    lesson = parse_lesson(GOOD, "good.md")
    assert lesson.title == "A lesson" and lesson.intro == "Intro."
    assert [s.title for s in lesson.steps] == ["One", "Two", "Three"]
    assert lesson.steps[0].lab == {"lab": "mlp", "seed": 3, "hidden": "16", "batch_size": 8}
    assert lesson.steps[1].ask == "Up or down?" and lesson.steps[1].reveal == "Down."
    assert lesson.steps[0].text == "Text of one."


@pytest.mark.parametrize("text, words", [
    ("no title\n## s\n@lab mlp\n", "no title"),
    ("# T\n", "no steps"),
    ("# T\n## s\n@run 3\n", "first step must open a lab"),
    ("# T\n## s\n@lab mlp\n@fly 3\n", "unknown directive @fly"),
    ("# T\n## s\n@lab mlp\n@run ten\n", "@run needs a whole number"),
    ("# T\n## s\n@lab mlp\n@set lr\n", "@set needs a name and a value"),
    ("# T\n## s\n@lab mlp\n@set lr 0.1\n", "must be followed by @run or @phases"),
    ("# T\n## s\n@lab mlp\n@ask Why?\n", "reveals nothing"),
    ("# T\n## s\n@lab mlp\n@reveal\n", "@reveal without @ask"),
    ("# T\n## s\n@lab mlp hidden\n", "key=value"),
    ("# T\n@run 1\n", "before the first step"),
])
def test_bad_lessons_get_one_sentence_naming_the_line(text, words):
    with pytest.raises(StepwiseError, match=words) as e:
        parse_lesson(text, "bad.md")
    assert "bad.md" in str(e.value)


def test_plans_follow_the_session_rules():
    lesson = parse_lesson(GOOD, "good.md")
    runner = LessonRunner(lesson)
    n = 10
    one, two, three = (runner.plan(k, n) for k in range(3))
    assert one.target == 102 and one.settings == []
    assert two.target == 200 and two.settings == [(10, "lr", 0.2)]
    assert three.target == 51 and three.select == 2
    # three lies before the change: the line that has it reaches three's state by going back
    assert runner.holds(three, n, [(10, "lr", 0.2)])
    assert runner.route(2, n, one.config, [[10, "lr", 0.2]], ours=True) == [("move", 51)]
    # two needs the change: a line without it must start again and replay every move
    assert runner.route(1, n, one.config, [], ours=True) == [("configure", one.config), ("move", 100),
                                                               ("move", 102), ("move", 100), ("set", "lr", 0.2),
                                                               ("move", 200)]
    # a run the student started (or another lab) starts the lesson's lab again
    assert runner.route(0, n, one.config, [], ours=False) == [("configure", one.config)]
    assert LessonRunner(lesson, scale=0.1).plan(1, n).target == 20


def test_next_move_steps_seeks_or_trains():
    snap = {"phase_count": 10, "iteration": 5, "phase": 3, "furthest": 8, "playing": False}
    assert next_move(snap, 53) is None
    assert next_move(snap, 57) == ("step_phase", 4, 57)
    assert next_move(snap, 21) == ("seek", 2, 20)
    assert next_move(snap, 80) == ("seek", 8, 80)
    assert next_move(snap, 120) == ("run_to", 12, 120)
    assert reached(snap, 53) and not reached(dict(snap, playing=True), 53)


def test_shipped_lessons_parse_and_cover_every_lab():
    from visualizer.lessons import load_lesson
    labs = set()
    for path in shipped_lessons():
        lesson = load_lesson(path)
        assert 6 <= len(lesson.steps) <= 12, path
        labs.add(lesson.steps[0].lab["lab"])
    assert labs == {"mlp", "cnn", "batch1", "resnet", "char-rnn", "lstm", "optimizers"}


def run_main(*args):
    from test_cli import run  # the CLI as a user runs it
    return run(*args, timeout=300)


def test_list_lessons_prints_the_shipped_files():
    out = run_main("--list-lessons")
    assert out.returncode == 0
    paths = out.stdout.split()
    assert len(paths) == 7 and all(p.endswith(".md") for p in paths)
    assert paths == [str(p) for p in shipped_lessons()]


@pytest.mark.parametrize("args, words", [
    (["--lesson", "no-such-lesson.md"], "There is no lesson file no-such-lesson.md"),
    (["--lesson", "lessons/mlp.md", "--lesson-step", "99", "--screenshot", "x.png"], "it has steps 1 to 9"),
    (["--lesson-step", "2"], "--lesson-step needs --lesson FILE and --screenshot"),
    (["--text-size", "300"], "use 100 to 200"),
    (["--window-size", "big"], "WIDTHxHEIGHT"),
])
def test_bad_lesson_options_exit_2_with_one_sentence(args, words):
    out = run_main(*args)
    assert out.returncode == 2
    assert words in out.stderr and out.stderr.count("\n") == 1


def test_lesson_step_screenshot(tmp_path):
    shot = tmp_path / "step.png"
    out = run_main("--lesson", "lessons/optimizers.md", "--lesson-step", "3", "--screenshot", str(shot),
                   "--window-size", "1280x720")
    assert out.returncode == 0, out.stderr
    from PySide6 import QtGui
    image = QtGui.QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 720)
