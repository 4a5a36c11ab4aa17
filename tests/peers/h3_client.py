#!/usr/bin/env python3
"""A small HTTP/3 client on aioquic, an independent HTTP/3 + QUIC stack, for twinport's tests.

Usage:
  h3_client.py --port PORT --ca CA.pem [--cert C.pem --key K.pem] [--server-name localhost]
               [--request METHOD PATH [BODY]]... [--trailer NAME:VALUE]... [--zero-rtt]
               [--cipher CHACHA20_POLY1305_SHA256] [--local-host ADDR]
               [--save-ticket FILE] [--load-ticket FILE]

Sends every request on one connection (concurrently), then prints one JSON object:
  {"alpn": "h3", "local_port": N, "peer_serial": "hex" (unless resumed), "responses": [{"status": 200, "headers": {...},
   "body": "...", "trailers": {...}}, ...]}
or {"error": "..."} with exit status 1. Trailers given with --trailer follow every request body.

With --zero-rtt, a first connection (one GET /) collects the server's session ticket; the
requests then go on a second connection that resumes with it and sends them at once, as 0-RTT
early data if the ticket allows it. The JSON then also has "resumed" and
"early_data_accepted" (the server's answer to the early data).

--local-host ADDR sends from that address (127.0.0.2, say: any of 127/8 on loopback), so that a
load balancer hashing the source address can be steered. --save-ticket FILE writes the last
session ticket of the connection (pickled, as aioquic's own examples keep them; waiting for it
after the responses) and adds "ticket_max_early_data" to the JSON. --load-ticket FILE resumes
with a ticket so saved and sends the requests at once, as 0-RTT early data if the ticket allows
it (as --zero-rtt's second connection does, which it replaces); the JSON has "resumed" and
"early_data_accepted".
"""

import asyncio
import json
import pickle
import socket
from contextlib import asynccontextmanager

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.events import ConnectionTerminated, StreamReset
from aioquic.tls import CipherSuite

from aioquic.quic.connection import QuicConnection

from quic_peer import client_config, connection_args, run


@asynccontextmanager
async def connect_from(local_host, host, port, *, configuration, create_protocol,
                       session_ticket_handler=None, wait_connected=True):
    """aioquic's `connect` (which binds `::`), from a socket bound to `local_host` (IPv4)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    addr = infos[0][4]
    connection = QuicConnection(
        configuration=configuration, session_ticket_handler=session_ticket_handler
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((local_host, 0))
    except BaseException:
        sock.close()
        raise
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: create_protocol(connection), sock=sock
    )
    try:
        protocol.connect(addr, transmit=wait_connected)
        if wait_connected:
            await protocol.wait_connected()
        yield protocol
    finally:
        protocol.close()
        await protocol.wait_closed()
        transport.close()


def opener(args):
    """`connect`, or `connect_from` the --local-host."""
    if args.local_host:
        return lambda *a, **kw: connect_from(args.local_host, *a, **kw)
    return connect


class Exchange:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.trailers = {}
        self.body = bytearray()
        self.done = asyncio.get_running_loop().create_future()

    def result(self):
        return {
            "status": self.status,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "trailers": self.trailers,
        }


class H3Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.exchanges = {}

    def quic_event_received(self, event):
        if isinstance(event, StreamReset):
            ex = self.exchanges.get(event.stream_id)
            if ex and not ex.done.done():
                ex.done.set_exception(RuntimeError(f"stream reset: {event.error_code:#x}"))
        if isinstance(event, ConnectionTerminated):
            for ex in self.exchanges.values():
                if not ex.done.done():
                    ex.done.set_exception(
                        RuntimeError(
                            f"connection closed: {event.error_code:#x} {event.reason_phrase}"
                        )
                    )
        for h3_event in self.http.handle_event(event):
            ex = self.exchanges.get(getattr(h3_event, "stream_id", None))
            if ex is None:
                continue
            if isinstance(h3_event, HeadersReceived):
                fields = {k.decode(): v.decode() for k, v in h3_event.headers}
                if ex.status is None:
                    ex.status = int(fields.pop(":status"))
                    ex.headers = fields
                else:
                    ex.trailers = fields
            elif isinstance(h3_event, DataReceived):
                ex.body.extend(h3_event.data)
            if getattr(h3_event, "stream_ended", False) and not ex.done.done():
                ex.done.set_result(None)

    async def request(self, method, authority, path, body, trailers):
        stream_id = self._quic.get_next_available_stream_id()
        ex = Exchange()
        self.exchanges[stream_id] = ex
        headers = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b"user-agent", b"aioquic-twinport-test"),
        ]
        has_body = bool(body) or bool(trailers)
        self.http.send_headers(stream_id, headers, end_stream=not has_body)
        if body:
            self.http.send_data(stream_id, body, end_stream=not trailers)
        if trailers:
            self.http.send_headers(stream_id, trailers, end_stream=True)
        self.transmit()
        await ex.done
        return ex.result()


async def main():
    parser = connection_args()
    parser.add_argument("--request", nargs="+", action="append", default=[])
    parser.add_argument("--trailer", action="append", default=[])
    parser.add_argument("--zero-rtt", action="store_true")
    parser.add_argument("--cipher", help="offer only this TLS 1.3 cipher suite, e.g. CHACHA20_POLY1305_SHA256")
    parser.add_argument("--local-host", help="send from this (IPv4) address")
    parser.add_argument("--save-ticket", help="write the connection's last session ticket here")
    parser.add_argument("--load-ticket", help="resume with the session ticket of this file")
    args = parser.parse_args()
    open_connection = opener(args)

    config = client_config(args)
    if args.cipher:
        config.cipher_suites = [CipherSuite[args.cipher]]
    trailers = []
    for t in args.trailer:
        name, _, value = t.partition(":")
        trailers.append((name.strip().lower().encode(), value.strip().encode()))
    requests = args.request or [["GET", "/"]]
    authority = f"{args.server_name}:{args.port}"
    extra = {}

    if args.zero_rtt:
        tickets = []
        async with open_connection(
            args.host,
            args.port,
            configuration=config,
            create_protocol=H3Client,
            session_ticket_handler=tickets.append,
        ) as first:
            await asyncio.wait_for(first.request("GET", authority, "/", b"", []), args.timeout)
            # The ticket comes after the handshake, often after the first response.
            for _ in range(200):
                if tickets:
                    break
                await asyncio.sleep(0.01)
            first.close()
        if not tickets:
            raise RuntimeError("the server sent no session ticket")
        config.session_ticket = tickets[-1]
    if args.load_ticket:
        with open(args.load_ticket, "rb") as f:
            config.session_ticket = pickle.load(f)
    resuming = config.session_ticket is not None

    saved = []
    async with open_connection(
        args.host,
        args.port,
        configuration=config,
        create_protocol=H3Client,
        session_ticket_handler=saved.append if args.save_ticket else None,
        # With a ticket: do not wait for the handshake, so the requests are early data.
        wait_connected=not resuming,
    ) as client:
        local_port = client._transport.get_extra_info("sockname")[1]
        results = await asyncio.wait_for(
            asyncio.gather(
                *[
                    client.request(
                        r[0], authority, r[1], r[2].encode() if len(r) > 2 else b"", trailers
                    )
                    for r in requests
                ]
            ),
            args.timeout,
        )
        alpn = client._quic.tls.alpn_negotiated
        # A resumed session (--zero-rtt) sees no certificate.
        peer_cert = client._quic.tls._peer_certificate
        if peer_cert is not None:
            extra["peer_serial"] = format(peer_cert.serial_number, "x")
        if args.save_ticket:
            for _ in range(200):
                if saved:
                    break
                await asyncio.sleep(0.01)
            if not saved:
                raise RuntimeError("the server sent no session ticket")
            with open(args.save_ticket, "wb") as f:
                pickle.dump(saved[-1], f)
            extra["ticket_max_early_data"] = saved[-1].max_early_data_size
        if resuming:
            extra |= {
                "resumed": client._quic.tls.session_resumed,
                "early_data_accepted": client._quic.tls.early_data_accepted,
            }
        client.close()
    print(json.dumps({"alpn": alpn, "local_port": local_port, "responses": results, **extra}))


if __name__ == "__main__":
    run(main)
