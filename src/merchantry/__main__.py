"""Allow ``python -m merchantry``."""

import sys

from merchantry.cli import main

sys.exit(main())
