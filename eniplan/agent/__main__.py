import sys

from eniplan.agent.main import main

sys.exit(main())
