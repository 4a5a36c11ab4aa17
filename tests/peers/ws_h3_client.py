#!/usr/bin/env python3
"""A WebSocket client over HTTP/3 (RFC 9220) on aioquic and wsproto, for twinport's tests.

Usage:
  ws_h3_client.py --port PORT --ca CA.pem [--server-name localhost] [--path /ws]
                  [--text MSG]... [--binary-size N] [--hang-up]

Waits for the server's SETTINGS, opens one WebSocket with an extended CONNECT
(:protocol websocket, sec-websocket-version 13), reads the server's first message, sends each
--text and a binary message of --binary-size bytes (if given) and waits for each echo, then
closes with code 1000 and waits for the server's close and the end of the stream. With
--hang-up it instead resets the stream after the first message. Prints one JSON object:
  {"enable_connect_protocol": 1, "status": 200, "headers": {...}, "first": "HTTP/3",
   "echoes": [...], "binary_echoed": N, "close": {"code": 1000, "reason": ""},
   "stream_ended": true}
or {"status": N, "headers": ..., "body": "..."} when the server refused, or {"error": "..."}
with exit status 1.
"""

import argparse
import asyncio
import json
import sys

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamReset
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    TextMessage,
)

ENABLE_CONNECT_PROTOCOL = 0x8
TIMEOUT = 10


class WsClient(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.stream_id = None
        self.head = asyncio.get_running_loop().create_future()
        self.ended = asyncio.get_running_loop().create_future()
        self.settings = asyncio.get_running_loop().create_future()
        self.ws = Connection(ConnectionType.CLIENT)
        self.messages = asyncio.Queue()
        self.body = bytearray()
        self.partial = {"text": "", "bytes": bytearray()}

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            err = RuntimeError(f"connection closed: {event.reason_phrase}")
            for f in (self.head, self.ended, self.settings):
                if not f.done():
                    f.set_exception(err)
            self.messages.put_nowait(err)
        if isinstance(event, StreamReset) and event.stream_id == self.stream_id:
            if not self.ended.done():
                self.ended.set_result(f"reset {event.error_code:#x}")
        for ev in self.http.handle_event(event):
            self.h3_event(ev)
        if self.http.received_settings is not None and not self.settings.done():
            self.settings.set_result(dict(self.http.received_settings))

    def h3_event(self, ev):
        if getattr(ev, "stream_id", None) != self.stream_id:
            return
        if isinstance(ev, HeadersReceived) and not self.head.done():
            fields = {k.decode(): v.decode() for k, v in ev.headers}
            self.head.set_result((int(fields.pop(":status")), fields))
        elif isinstance(ev, DataReceived):
            if self.head.done() and self.head.result()[0] == 200:
                self.ws.receive_data(ev.data)
                self.ws_events()
            else:
                self.body.extend(ev.data)
        if getattr(ev, "stream_ended", False) and not self.ended.done():
            self.ended.set_result("fin")

    def ws_events(self):
        for wev in self.ws.events():
            if isinstance(wev, Ping):
                self.send(self.ws.send(wev.response()))
            elif isinstance(wev, TextMessage):
                self.partial["text"] += wev.data
                if wev.message_finished:
                    self.messages.put_nowait(("text", self.partial["text"]))
                    self.partial["text"] = ""
            elif isinstance(wev, BytesMessage):
                self.partial["bytes"].extend(wev.data)
                if wev.message_finished:
                    self.messages.put_nowait(("bytes", bytes(self.partial["bytes"])))
                    self.partial["bytes"] = bytearray()
            elif isinstance(wev, CloseConnection):
                self.messages.put_nowait(("close", wev.code, wev.reason))

    def send(self, data, end=False):
        self.http.send_data(self.stream_id, data, end_stream=end)
        self.transmit()

    def open(self, authority, path):
        self.stream_id = self._quic.get_next_available_stream_id()
        self.http.send_headers(
            self.stream_id,
            [
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
                (b"sec-websocket-version", b"13"),
                (b"origin", f"https://{authority}".encode()),
            ],
        )
        self.transmit()

    async def next_message(self):
        got = await asyncio.wait_for(self.messages.get(), TIMEOUT)
        if isinstance(got, Exception):
            raise got
        return got


async def run(args):
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    config.load_verify_locations(args.ca)
    config.server_name = args.server_name
    async with connect(
        "127.0.0.1", args.port, configuration=config, create_protocol=WsClient
    ) as client:
        settings = await asyncio.wait_for(client.settings, TIMEOUT)
        out = {"enable_connect_protocol": settings.get(ENABLE_CONNECT_PROTOCOL)}
        client.open(f"{args.server_name}:{args.port}", args.path)
        status, headers = await asyncio.wait_for(client.head, TIMEOUT)
        out["status"] = status
        out["headers"] = headers
        if status != 200:
            try:
                await asyncio.wait_for(client.ended, TIMEOUT)
            except asyncio.TimeoutError:
                pass
            out["body"] = client.body.decode(errors="replace")
            return out
        first = await client.next_message()
        out["first"] = first[1] if first[0] == "text" else repr(first)
        if args.hang_up:
            client._quic.reset_stream(client.stream_id, 0x10C)
            client.transmit()
            out["hung_up"] = True
            return out
        out["echoes"] = []
        for text in args.text:
            client.send(client.ws.send(Message(data=text)))
            got = await client.next_message()
            out["echoes"].append(got[1] if got[0] == "text" else repr(got))
        if args.binary_size:
            payload = bytes(i % 251 for i in range(args.binary_size))
            client.send(client.ws.send(Message(data=payload)))
            got = await client.next_message()
            out["binary_echoed"] = len(got[1]) if got[0] == "bytes" else repr(got)
            out["binary_intact"] = got[0] == "bytes" and got[1] == payload
        client.send(client.ws.send(CloseConnection(code=1000, reason="bye")))
        got = await client.next_message()
        if got[0] == "close":
            out["close"] = {"code": got[1], "reason": got[2]}
        else:
            out["close"] = repr(got)
        # The close handshake is over: end our side, as a TCP client would close.
        client.send(b"", end=True)
        out["stream_ended"] = await asyncio.wait_for(client.ended, TIMEOUT) == "fin"
        return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--server-name", default="localhost")
    p.add_argument("--path", default="/ws")
    p.add_argument("--text", action="append", default=[])
    p.add_argument("--binary-size", type=int, default=0)
    p.add_argument("--hang-up", action="store_true")
    args = p.parse_args()
    try:
        out = asyncio.run(run(args))
    except Exception as e:  # the test prints it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
