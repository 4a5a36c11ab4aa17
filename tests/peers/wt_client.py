#!/usr/bin/env python3
"""A WebTransport client on aioquic (draft-02, as Chromium speaks it), for twinport's tests.

Usage:
  wt_client.py --port PORT --ca CA.pem [--cert C.pem --key K.pem] [--server-name localhost]
               [--session PATH]... [--protocols P1,P2] [--get PATH] [--close] [--hold-uni N]

Opens every --session on one connection at once (extended CONNECT, :protocol webtransport).
On each accepted session it sends "bidi-<i>" on a bidirectional stream, "uni-<i>" on a
unidirectional stream, "dgram-<i>" as a datagram and "whoami" on a second bidirectional stream,
and waits for the echoes; while all sessions are open it sends GET --get on the same
connection. With --close, each session then sends "close" on a bidirectional stream and
reports the CLOSE_WEBTRANSPORT_SESSION capsule the server sends before ending the CONNECT
stream. With --hold-uni N, each session instead opens N unidirectional streams (sending "x"),
waits a second and hangs up the connection. Prints one JSON object:
  {"alpn": "h3", "sessions": [{"path": ..., "status": 200, "headers": {...}, "bidi": ...,
   "uni": ..., "datagram": ..., "whoami": ..., "close": {"code": N, "reason": ...}}], "get": {"status": 200, "body": ...}}
or {"error": "..."} with exit status 1. A refused session has only path, status and headers.
"""

import asyncio
import json

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import FrameType, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    DataReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.buffer import Buffer
from aioquic.quic.events import ConnectionTerminated

from quic_peer import client_config, connection_args, run


class Waiter:
    def __init__(self):
        self.data = bytearray()
        self.done = asyncio.get_running_loop().create_future()

    def feed(self, data, ended):
        self.data.extend(data)
        if ended and not self.done.done():
            self.done.set_result(bytes(self.data))


class WtClient(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.heads = {}  # stream id -> future of (status, headers)
        self.bodies = {}  # stream id -> Waiter (ordinary requests)
        self.streams = {}  # WebTransport stream id -> Waiter
        self.uni_echo = {}  # session id -> Waiter for the server's uni stream
        self.datagrams = {}  # session id -> future

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            err = RuntimeError(f"connection closed: {event.reason_phrase}")
            for f in list(self.heads.values()) + list(self.datagrams.values()):
                if not f.done():
                    f.set_exception(err)
        for ev in self.http.handle_event(event):
            if isinstance(ev, HeadersReceived):
                fields = {k.decode(): v.decode() for k, v in ev.headers}
                fut = self.heads.get(ev.stream_id)
                if fut and not fut.done():
                    fut.set_result((int(fields.pop(":status")), fields))
                if ev.stream_ended and ev.stream_id in self.bodies:
                    self.bodies[ev.stream_id].feed(b"", True)
            elif isinstance(ev, DataReceived):
                if ev.stream_id in self.bodies:
                    self.bodies[ev.stream_id].feed(ev.data, ev.stream_ended)
            elif isinstance(ev, WebTransportStreamDataReceived):
                waiter = self.streams.get(ev.stream_id)
                if waiter is None:
                    # A stream the server opened: the unidirectional echo.
                    waiter = self.uni_echo.setdefault(ev.session_id, Waiter())
                    self.streams[ev.stream_id] = waiter
                waiter.feed(ev.data, ev.stream_ended)
            elif isinstance(ev, DatagramReceived):
                fut = self.datagrams.get(ev.stream_id)
                if fut and not fut.done():
                    fut.set_result(ev.data)

    def send_headers(self, headers, end_stream):
        stream_id = self._quic.get_next_available_stream_id()
        self.heads[stream_id] = asyncio.get_running_loop().create_future()
        self.http.send_headers(stream_id, headers, end_stream=end_stream)
        self.transmit()
        return stream_id

    async def get(self, authority, path):
        stream_id = self.send_headers(
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
            ],
            True,
        )
        self.bodies[stream_id] = Waiter()
        status, _ = await self.heads[stream_id]
        body = await self.bodies[stream_id].done
        return {"status": status, "body": body.decode("utf-8", "replace")}

    async def open_session(self, authority, path, protocols):
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", b"webtransport"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b"origin", f"https://{authority}".encode()),
            (b"sec-webtransport-http3-draft02", b"1"),
        ]
        if protocols:
            offered = ", ".join(f'"{p}"' for p in protocols)
            headers.append((b"wt-available-protocols", offered.encode()))
        session_id = self.send_headers(headers, False)
        # Capsules arrive as DATA on the CONNECT stream.
        self.bodies[session_id] = Waiter()
        status, fields = await self.heads[session_id]
        return session_id, status, fields

    async def close_by_server(self, session_id):
        stream_id = self.http.create_webtransport_stream(session_id, is_unidirectional=False)
        self._quic.send_stream_data(stream_id, b"close", end_stream=True)
        self.transmit()
        data = await self.bodies[session_id].done
        buf = Buffer(data=data)
        while not buf.eof():
            kind = buf.pull_uint_var()
            value = buf.pull_bytes(buf.pull_uint_var())
            if kind == 0x2843:
                return {
                    "code": int.from_bytes(value[:4], "big"),
                    "reason": value[4:].decode("utf-8", "replace"),
                }
        return None

    async def bidi(self, session_id, payload):
        stream_id = self.http.create_webtransport_stream(session_id, is_unidirectional=False)
        # aioquic 1.x forgets that a bidirectional stream it opened is a WebTransport stream and
        # would parse the server's raw bytes as HTTP/3 frames: tell its stream state.
        with self.http._get_or_create_stream(stream_id) as state:
            state.frame_type = FrameType.WEBTRANSPORT_STREAM
            state.session_id = session_id
        waiter = self.streams[stream_id] = Waiter()
        self._quic.send_stream_data(stream_id, payload, end_stream=True)
        self.transmit()
        return (await waiter.done).decode("utf-8", "replace")

    async def uni(self, session_id, payload):
        waiter = self.uni_echo.setdefault(session_id, Waiter())
        stream_id = self.http.create_webtransport_stream(session_id, is_unidirectional=True)
        self._quic.send_stream_data(stream_id, payload, end_stream=True)
        self.transmit()
        return (await waiter.done).decode("utf-8", "replace")

    async def datagram(self, session_id, payload):
        fut = self.datagrams[session_id] = asyncio.get_running_loop().create_future()
        # Datagrams may be lost: resend until the echo comes back.
        for _ in range(20):
            self.http.send_datagram(session_id, payload)
            self.transmit()
            try:
                return (await asyncio.wait_for(asyncio.shield(fut), 0.5)).decode()
            except asyncio.TimeoutError:
                continue
        raise RuntimeError("no datagram echo")


async def run_session(client, authority, path, index, protocols, opened, close, hold_uni):
    session_id, status, headers = await client.open_session(authority, path, protocols)
    result = {"path": path, "status": status, "headers": headers}
    if status != 200:
        opened.append(None)
        return result
    opened.append(session_id)
    if hold_uni:
        for _ in range(hold_uni):
            stream_id = client.http.create_webtransport_stream(session_id, is_unidirectional=True)
            client._quic.send_stream_data(stream_id, b"x", end_stream=True)
        client.transmit()
        await asyncio.sleep(1)
        return result
    bidi, uni, dgram, whoami = await asyncio.gather(
        client.bidi(session_id, f"bidi-{index}".encode()),
        client.uni(session_id, f"uni-{index}".encode()),
        client.datagram(session_id, f"dgram-{index}".encode()),
        client.bidi(session_id, b"whoami"),
    )
    result.update(bidi=bidi, uni=uni, datagram=dgram, whoami=json.loads(whoami))
    if close:
        result["close"] = await client.close_by_server(session_id)
    return result


async def main():
    parser = connection_args()
    parser.add_argument("--session", action="append", default=[])
    parser.add_argument("--protocols", default="")
    parser.add_argument("--get")
    parser.add_argument("--close", action="store_true")
    parser.add_argument("--hold-uni", type=int, default=0)
    args = parser.parse_args()

    config = client_config(args, max_datagram_frame_size=65536)
    protocols = [p for p in args.protocols.split(",") if p]

    async with connect(args.host, args.port, configuration=config, create_protocol=WtClient) as client:
        authority = f"{args.server_name}:{args.port}"
        opened = []

        async def everything():
            sessions = asyncio.gather(
                *[
                    run_session(
                        client, authority, path, i, protocols, opened, args.close, args.hold_uni
                    )
                    for i, path in enumerate(args.session)
                ]
            )
            get = None
            if args.get:
                # Once every session is open, an ordinary request on the same connection.
                while len(opened) < len(args.session):
                    await asyncio.sleep(0.01)
                get = await client.get(authority, args.get)
            return await sessions, get

        sessions, get = await asyncio.wait_for(everything(), args.timeout)
        alpn = client._quic.tls.alpn_negotiated
        client.close()
    print(json.dumps({"alpn": alpn, "sessions": sessions, "get": get}))


if __name__ == "__main__":
    run(main)
