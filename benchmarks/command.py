"""`debris` in a child process, the way a user runs it, for the benchmarks that time or watch whole commands.

The command line runs this interpreter's `debris.cli.main`, so a benchmark measures the checkout it
was started from whatever `debris` is first on PATH. MAIN is the code alone, for callers that run a
variant of it (benchmarks/busy.py).
"""

from __future__ import annotations

import sys

MAIN = "import sys; from debris.cli import main; sys.exit(main())"
DEBRIS = [sys.executable, "-c", MAIN]
