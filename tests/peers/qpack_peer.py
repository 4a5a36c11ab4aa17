#!/usr/bin/env python3
"""QPACK through ls-qpack (pylsqpack, an aioquic dependency), an independent encoder and
decoder, for twinport-quinn's codec tests.

Usage:
  qpack_peer.py IN.json

IN.json: {"encode": [[[NAME_HEX, VALUE_HEX], ...], ...], "decode": [BLOCK_HEX, ...]}
Encodes every field list of "encode" as ls-qpack does with a dynamic table capacity of 0 (the
one twinport advertises), decodes every field section of "decode" with a decoder of capacity
0, and prints one JSON object:
  {"encoded": [BLOCK_HEX, ...], "decoded": [[[NAME_HEX, VALUE_HEX], ...] or {"error": "..."}, ...]}
"""

import json
import sys

import pylsqpack


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    encoded = []
    for i, fields in enumerate(job["encode"]):
        encoder = pylsqpack.Encoder()
        encoder.apply_settings(max_table_capacity=0, blocked_streams=0)
        headers = [(bytes.fromhex(n), bytes.fromhex(v)) for n, v in fields]
        stream_data, block = encoder.encode(4 * i, headers)
        assert stream_data == b"", "no encoder stream data without a dynamic table"
        encoded.append(block.hex())
    decoded = []
    for i, block in enumerate(job["decode"]):
        decoder = pylsqpack.Decoder(0, 0)
        try:
            _, headers = decoder.feed_header(4 * i, bytes.fromhex(block))
            decoded.append([[n.hex(), v.hex()] for n, v in headers])
        except Exception as e:  # the test shows what ls-qpack refused
            decoded.append({"error": repr(e)})
    print(json.dumps({"encoded": encoded, "decoded": decoded}))


if __name__ == "__main__":
    main()
