"""Joint training: one pass over the union of all tasks, evaluated as the others are (the upper bound)."""

from methods.declare import Method

METHOD = Method(name="joint", order=100, summary="joint training on the union of all tasks", joint=True)
