"""Command line: `python -m icans_core validate|sample|template ...` (see `--help`)."""

import sys

from icans_core.cli import main

sys.exit(main())
