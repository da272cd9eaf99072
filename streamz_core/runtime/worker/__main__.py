"""``python -m streamz_core.runtime.worker FDS DRIVER_PID``: a worker process (see ``boot``)."""
import sys

from .boot import main

if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
