"""`python -m face_assets.cli ...` is `face-assets ...` (the tests and benchmarks start it so)."""

import sys

from face_assets.cli.main import main

sys.exit(main())
