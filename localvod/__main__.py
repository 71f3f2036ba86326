import sys

from localvod.cli import main

sys.exit(main())
