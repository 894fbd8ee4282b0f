import sys

from siform.cli import main

sys.exit(main())
