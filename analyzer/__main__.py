import gc
import sys

# A short-lived process that builds many long-lived objects and drops few cycles: the cyclic
# collector would only rescan them (about 5% of a cold `tree`). Library callers keep it on.
gc.disable()

from analyzer.cli.main import main  # noqa: E402

sys.exit(main())
