"""`python -m assistant.cli`: the same as `lira`."""

import sys

from assistant.cli import main

sys.exit(main())
