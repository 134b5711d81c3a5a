"""Source: the model folder, its config.json and root, the ast index of source files and the
LibCST parsing of one definition at a time. Imports only rules, cache and diagnostics; never
the evaluator."""
