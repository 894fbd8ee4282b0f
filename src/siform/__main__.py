import sys

from siform.entry import main

sys.exit(main())
