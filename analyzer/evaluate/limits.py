"""Every limit of the evaluator in one place: step budgets, call depth, parse guards, sizes of built
values. Read as ``limits.NAME`` at run time, so a test may change one.
"""
from __future__ import annotations

SCOPE_STEP_BUDGET = 100_000  # steps of one scope (see the module docstring)
TOTAL_STEP_BUDGET = 2_000_000  # steps of a whole analysis
STEP_BUDGET = SCOPE_STEP_BUDGET  # older name
# Replay of module constructions (see Evaluator.instantiate and analyzer/evaluate/replay.py). Off: every
# construction is evaluated (tests compare both).
REPLAY_CONSTRUCTIONS = True
MODULE_STEPS = 16  # steps charged per module object created (it costs more than a statement, downstream too)
MAX_DEPTH = 120  # analyzed call depth
MAX_NESTING = 100  # syntax nesting depth of one definition handed to LibCST
MAX_PARSE_COST = 50_000  # sum of syntax node depths of one definition handed to LibCST
MAX_DEFINITION_LINES = 5_000  # longer definitions are refused without parsing them at all
MAX_DEFINITION_CHARS = 200_000
MAX_SEQ = 1_000_000  # longest range iterated, longest sequence built
MAX_TENSOR_VALUES = 65_536  # the largest tensor whose values are tracked (analyzer/evaluate/tensor_values.py)
MAX_INT_BITS = 65_536  # integer arithmetic beyond this size gives an unknown value
MAX_WIDTH = 100_000  # str.ljust/center/zfill/..., format widths and precisions
ELEMENTS_PER_STEP = 32  # building or scanning a plain sequence costs a step per this many elements
