#!/usr/bin/env python3
"""A migrating HTTP/3 client on aioquic, for twinport's tests of QUIC workers.

Usage:
  rebind_client.py --port PORT --ca CA.pem [--path /whoami] [--trials N]
                   [--new-address 127.0.0.2] [--keep-cid]

Each trial opens one HTTP/3 connection and GETs --path three times on it: from its first UDP
socket, then from a new socket on --host's address and a new port ("port"), then from a new socket on
--new-address ("address"). Before each move the client switches to a connection ID the server
issued (QuicConnection.change_connection_id, as RFC 9000 section 9.5 asks of a client that
migrates on purpose), unless --keep-cid. aioquic's client does not care which local socket
sends its datagrams (its network paths are the server's addresses), so a move is a new
asyncio datagram endpoint given the same protocol: its packets then come from the new
address, the server validates the path and answers there.

Prints one JSON object:
  {"trials": [{"steps": [{"step": "first", "status": 200, "local": "*:N",
     "seen": "127.0.0.1:N", "cid_changed": false}, ...]} | {"error": "..."}, ...]}
"seen" is the remote address the server's /whoami reports. A trial that fails has "error"
(and the steps done so far); the other trials still run. An error outside the trials is
{"error": "..."} with exit status 1.
"""

import asyncio
import json
import socket

from aioquic.asyncio.client import connect

from h3_client import H3Client
from quic_peer import client_config, connection_args, run


def plain(addr):
    """'host:port' of a socket address, without the IPv4-mapped prefix of a dual-stack socket;
    "*:port" for one bound to every address (aioquic's first socket)."""
    host = addr[0]
    if host == "::":
        host = "*"
    elif host.startswith("::ffff:"):
        host = host[len("::ffff:") :]
    return f"{host}:{addr[1]}"


async def move(client, local_host):
    """Sends the connection's datagrams from a new UDP socket bound to (local_host, 0); the old
    socket is closed. Returns the new transport."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((local_host, 0, 0, 0))
    old = client._transport
    # The protocol's connection_made takes the new transport: transmit() sends from it, and
    # what arrives on it goes to the same QuicConnection.
    transport, _ = await loop.create_datagram_endpoint(lambda: client, sock=sock)
    old.close()
    return transport


async def trial(args, authority, config, same_address, new_address):
    steps = []
    async with connect(
        args.host, args.port, configuration=config, create_protocol=H3Client
    ) as client:
        transports = []
        try:
            for step, local_host in [("first", None), ("port", same_address), ("address", new_address)]:
                cid_changed = False
                if local_host is not None:
                    before = client._quic._peer_cid.cid
                    if not args.keep_cid:
                        client.change_connection_id()
                        cid_changed = client._quic._peer_cid.cid != before
                    transports.append(await move(client, local_host))
                local = plain(client._transport.get_extra_info("sockname"))
                try:
                    res = await asyncio.wait_for(
                        client.request("GET", authority, args.path, b"", []), args.timeout
                    )
                except asyncio.TimeoutError:
                    raise RuntimeError(f"{step}: no answer in {args.timeout} s") from None
                seen = None
                if res["status"] == 200 and args.path.startswith("/whoami"):
                    seen = json.loads(res["body"]).get("remote_addr")
                steps.append(
                    {
                        "step": step,
                        "status": res["status"],
                        "local": local,
                        "seen": seen,
                        "cid_changed": cid_changed,
                    }
                )
        except Exception as e:
            return {"steps": steps, "error": f"{type(e).__name__}: {e}"}
        finally:
            client.close()
            try:
                await asyncio.wait_for(client.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
            for t in transports:
                t.close()
    return {"steps": steps}


async def main():
    parser = connection_args()
    parser.add_argument("--path", default="/whoami")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--new-address", default="127.0.0.2")
    parser.add_argument("--keep-cid", action="store_true")
    args = parser.parse_args()

    config = client_config(args)
    authority = f"{args.server_name}:{args.port}"
    # Dual-stack sockets, as aioquic's connect() makes: IPv4 addresses in their mapped form.
    same_address = "::ffff:" + args.host
    new_address = "::ffff:" + args.new_address
    results = []
    for _ in range(args.trials):
        try:
            results.append(await trial(args, authority, config, same_address, new_address))
        except Exception as e:
            results.append({"steps": [], "error": f"{type(e).__name__}: {e}"})
    print(json.dumps({"trials": results}))


if __name__ == "__main__":
    run(main)
