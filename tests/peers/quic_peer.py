"""What the aioquic HTTP/3 peers of this directory share: the arguments of a connection and the
client configuration made from them (imported by h3_client.py and wt_client.py)."""

import argparse
import asyncio
import json
import ssl
import sys

from aioquic.h3.connection import H3_ALPN
from aioquic.quic.configuration import QuicConfiguration


def connection_args():
    """A parser with the connection's arguments; the script adds its own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--timeout", type=float, default=20.0)
    return parser


def client_config(args, **options):
    """An HTTP/3 client configuration that verifies the server against --ca and presents
    --cert / --key when given; `options` go to QuicConfiguration."""
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, **options)
    config.server_name = args.server_name
    config.verify_mode = ssl.CERT_REQUIRED
    config.load_verify_locations(args.ca)
    if args.cert:
        config.load_cert_chain(args.cert, args.key)
    return config


def run(main):
    """Runs the script's async `main`; an exception is printed as {"error": ...}, which the Rust
    test asserts on, with exit status 1."""
    try:
        asyncio.run(main())
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
