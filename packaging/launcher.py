"""Entry script of the desktop bundle: the same ``diffgen`` command line (bare = the app)."""

import sys

from diffgen_gui.launcher import main

if __name__ == "__main__":
    sys.exit(main())
