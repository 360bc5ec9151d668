"""``python -m diffgen_gui``: the same as the ``diffgen`` command."""

import sys

from diffgen_gui.launcher import main

sys.exit(main())
