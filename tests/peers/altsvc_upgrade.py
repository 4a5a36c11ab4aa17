#!/usr/bin/env python3
"""niquests on one session: follows Alt-Svc from HTTP/2 to HTTP/3, as a browser would.

Usage: altsvc_upgrade.py URL CA.pem N

Fetches URL (a twinport /whoami) N times on one niquests Session and prints a JSON list, one
entry per request: {"client_http_version": 20|30, "server_saw": "HTTP/2"|"HTTP/3",
"alt_svc": header or null}.
"""

import json
import sys

import niquests


def main():
    url, ca, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = []
    with niquests.Session() as session:
        for _ in range(n):
            r = session.get(url, verify=ca, timeout=10)
            r.raise_for_status()
            seen.append(
                {
                    "client_http_version": r.http_version,
                    "server_saw": r.json().get("protocol"),
                    "alt_svc": r.headers.get("alt-svc"),
                }
            )
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
