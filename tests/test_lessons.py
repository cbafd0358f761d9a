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
