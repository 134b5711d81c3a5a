"""Costs: module families and their dimensions (``families``, ``module_attrs``), the registry of
SymPy formulas (``formulas/``), workloads (``workload``), per-stage aggregation (``aggregate``)
and the documents made from them (``summary``, ``formulations``). Imports tree and below; never
render or the CLI. Only this package and render import SymPy."""
