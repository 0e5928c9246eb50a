#!/usr/bin/env python3
"""Time from exec to the first full screen of a terminal program, in a pty.

    scripts/first-frame.py [--runs N] [--rows R] [--cols C] \
        --until TEXT [--until TEXT ...] [--min-lines L] -- COMMAND ARGS...

The command starts in a fresh pseudo-terminal of the given size; its output
is fed to a terminal emulator (pyte) and the clock stops at the first moment
the emulated screen shows every --until text and at least --min-lines
non-empty lines. That is "the first full screen" as a person sees it, the
same way for any program (outpost, neomutt), so the two can be compared.
Each run then gets `q` and five seconds to exit before a SIGKILL.

Needs `pip install pyte`. Prints one line per run and the median, in ms.
"""

import argparse
import os
import pty
import select
import signal
import statistics
import struct
import sys
import termios
import fcntl
import time

import pyte


class AnsweringScreen(pyte.Screen):
    """A screen that answers the terminal's queries (cursor position,
    device status) as a real terminal does: programs wait for them."""

    answers = b""

    def write_process_input(self, data):
        self.answers += data.encode()


def one_run(command, rows, cols, until, min_lines, timeout):
    screen = AnsweringScreen(cols, rows)
    stream = pyte.ByteStream(screen)
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    elapsed = None
    deadline = started + timeout
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            stream.feed(data)
            if screen.answers:
                os.write(fd, screen.answers)
                screen.answers = b""
            shown = "\n".join(screen.display)
            lines = sum(1 for line in screen.display if line.strip())
            if lines >= min_lines and all(text in shown for text in until):
                elapsed = (time.perf_counter() - started) * 1000
                break
    finally:
        # Quit as a person would and let the program close its files (a
        # kill would leave the next start a log to replay); kill only one
        # that has not exited after five seconds.
        try:
            os.write(fd, b"q")
        except OSError:
            pass
        exited = False
        give_up = time.perf_counter() + 5
        while time.perf_counter() < give_up:
            try:
                select.select([fd], [], [], 0.05)
                os.read(fd, 65536)
            except OSError:
                pass
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                exited = True
                break
        if not exited:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        os.close(fd)
    if elapsed is None:
        sys.exit(f"no full screen within {timeout}s; last screen:\n" + "\n".join(screen.display))
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=45)
    parser.add_argument("--cols", type=int, default=160)
    parser.add_argument("--until", action="append", required=True)
    parser.add_argument("--min-lines", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        sys.exit("no command given")
    times = []
    for n in range(args.runs):
        ms = one_run(command, args.rows, args.cols, args.until, args.min_lines, args.timeout)
        times.append(ms)
        print(f"run {n + 1}: {ms:.1f} ms")
    print(f"median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f}")


if __name__ == "__main__":
    main()
