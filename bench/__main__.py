import sys

from gpunet._bench import main

sys.exit(main())
