"""``python -m glassnet``: the command line."""

import sys

from glassnet.cli.main import main

sys.exit(main())
