"""`python -m rewire_eqx`: see `rewire_eqx.cli`."""

import sys

from rewire_eqx.cli import main

sys.exit(main(compilation_cache=True))
