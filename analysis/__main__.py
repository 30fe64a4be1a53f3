"""``python -m analysis A B``: see analysis.cli."""

import sys

from analysis.cli import main

sys.exit(main())
