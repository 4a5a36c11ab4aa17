#!/usr/bin/env python3
"""A minimal socket-activation launcher, for twinport's tests of inherited sockets: what
systemd does for a .socket unit with ListenStream= and ListenDatagram= on one port, and no
ReusePort= (systemd's default): the sockets have no SO_REUSEPORT unless --reuseport.

Usage:
  listen_fds.py --port PORT [--host 127.0.0.1] [--reuseport] -- COMMAND [ARG]...

Binds a TCP listener and a UDP socket on HOST:PORT, makes them file descriptors 3 and 4, sets
LISTEN_FDS=2 and LISTEN_PID (its own pid, which exec keeps, as systemd does), and no
LISTEN_FDNAMES; then execs COMMAND. Prints nothing itself; an error before the exec is
{"error": "..."} on stdout with exit status 1.
"""

import argparse
import fcntl
import json
import os
import socket
import sys

# sd_listen_fds(3): the first passed descriptor.
SD_LISTEN_FDS_START = 3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reuseport", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("listen_fds.py: no command")

    sockets = []
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if args.reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((args.host, args.port))
        if kind == socket.SOCK_STREAM:
            s.listen(128)
        sockets.append(s)

    # Out of the way first (above any descriptor in use), then onto 3 and 4, inheritable.
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 16) for s in sockets]
    for s in sockets:
        s.close()
    for i, fd in enumerate(high):
        os.dup2(fd, SD_LISTEN_FDS_START + i, inheritable=True)
        os.close(fd)

    env = dict(os.environ)
    env["LISTEN_FDS"] = str(len(high))
    env["LISTEN_PID"] = str(os.getpid())
    env.pop("LISTEN_FDNAMES", None)
    sys.stdout.flush()
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
