"""Render: pure functions from results to text, JSON and Markdown (tree, diff, costs,
formulations); deterministic byte for byte. Imports costs, tree and below; never the CLI."""
