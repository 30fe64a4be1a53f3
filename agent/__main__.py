"""`python -m agent`: same as the `agent` command."""

import sys

from agent.cli import main

sys.exit(main())
