"""Tree: the module tree as plain data (``model``), built from the evaluator's objects
(``build``), tagged with stages and leaves (``tagging``), compared (``diff``), and the opt-in live
dump (``runtime``, ``sandbox``). Imports evaluate and below; never costs, render or the CLI."""
