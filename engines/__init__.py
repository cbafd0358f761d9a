"""Stepwise engines: the math. Never imports Qt; deterministic given a seed."""


class StepwiseError(Exception):
    """A problem the user can fix. Its message is one clear sentence: what happened and what to do."""
