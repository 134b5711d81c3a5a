"""Evaluate: the partial evaluator of ``__init__`` bodies and everything it models. It never
executes the analyzed code. Imports source, rules, cache and diagnostics, never tree or above.

Inside: ``core`` and ``limits`` at the bottom; the modelled areas (``builtins``, ``attributes``,
``items``, ``operators``, ``stdlib``, ``torch_functions``, ``modules``, ``configs``,
``construction``, ``modeled``...) take the evaluator as an argument instead of importing it; the
evaluator's Python semantics (``statements``, ``expressions``, ``calls``, ``classes``,
``scopes``, ``guards``, ``budget``) are mixins that ``evaluator.Evaluator`` combines."""
