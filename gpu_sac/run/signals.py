"""Ctrl-C for the command line: the first SIGINT asks the run to stop at the end of its chunk, after
a checkpoint; a second one quits at once (the newest complete checkpoint stays loadable).

    stop = StopFlag()
    stop.install()          # main thread only; a no-op elsewhere
    try:
        run_experiment(config, options, stop=stop)   # reads stop.requested after each chunk
    finally:
        stop.uninstall()    # the previous SIGINT handler and wakeup fd are back
"""

from __future__ import annotations

import os
import signal
import sys
import threading


class StopFlag:
    """`requested` turns True at the first SIGINT. A watcher thread reads the signal through a wakeup
    fd, so that the message shows at once even while the main thread waits on the device (Python runs
    signal handlers only between bytecodes of the main thread)."""

    def __init__(self):
        self.requested = False
        self._count = 0
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._write_fd = write_fd
        self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._previous = signal.signal(signal.SIGINT, self._handle)
        self._installed = True
        threading.Thread(target=self._watch, args=(read_fd,), daemon=True).start()

    def _handle(self, signum, frame) -> None:  # runs in the main thread once it reaches Python code
        self.requested = True

    def _watch(self, read_fd: int) -> None:
        while True:
            data = os.read(read_fd, 64)
            if not data:
                return
            for byte in data:
                if byte == signal.SIGINT:
                    self._on_sigint()

    def _on_sigint(self) -> None:
        self._count += 1
        self.requested = True
        if self._count == 1:
            print("\nCtrl-C: stopping at the end of this chunk, after a checkpoint "
                  "(Ctrl-C again to quit now, losing the chunk)", file=sys.stderr, flush=True)
        else:
            print("\nCtrl-C again: quitting now; the newest complete checkpoint is kept", file=sys.stderr, flush=True)
            os._exit(130)

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            signal.set_wakeup_fd(self._previous_fd)
            os.close(self._write_fd)  # the watcher reads end-of-file and exits
            self._installed = False
