"""`python -m issuer.cli`: the same as the `issuer` console script."""

import sys

from issuer.cli import main

sys.exit(main())
