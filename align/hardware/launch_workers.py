"""`accelerate launch` for align's multi-process runs, quiet when stopped by a signal.

torch's elastic agent passes SIGTERM/SIGINT on to its workers (which save a checkpoint and say so), then re-raises
it as SignalException, whose traceback would bury their message. This runs accelerate's own launch command and
turns that exception into the conventional exit status 128 + signal number.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from accelerate.commands.launch import launch_command, launch_command_parser
    from torch.distributed.elastic.multiprocessing.api import SignalException

    try:
        launch_command(launch_command_parser().parse_args(argv))
    except SignalException as stop:
        raise SystemExit(128 + int(stop.sigval)) from None


if __name__ == "__main__":
    main(sys.argv[1:])
