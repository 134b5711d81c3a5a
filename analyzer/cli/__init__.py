"""CLI: argparse subcommands, ``main(argv) -> int``, no logic (``main`` for the tree commands,
``costs`` for the cost commands, ``common`` for what they share). The top layer: imports anything
below, and nothing imports it."""
