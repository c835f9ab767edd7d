#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (run from anywhere; rewrites corpus/).

Every input starts with two control bytes (split seed, mode bits) as the targets expect.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

UPGRADE = (b"GET /ws?topics=a,b HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")

HTTP = {
    "upgrade": UPGRADE,
    "upgrade_version8": UPGRADE.replace(b"Version: 13", b"Version: 8"),
    "upgrade_badkey": UPGRADE.replace(b"ZQ==", b"ZQ!="),
    "upgrade_post": UPGRADE.replace(b"GET", b"POST", 1),
    "upgrade_http10": UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0", 1),
    "plain_get": b"GET /healthz HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n",
    "post_body": b"POST /publish HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n\r\n{\"topic\":\"a\"}",
    "cl_list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n",
    "cl_conflict": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "gzip_chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "chunked": (b"POST /publish HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"7;ext=1\r\n{\"topic\"\r\nA\r\n:\"a\",\"data\"\r\n3\r\n:1}\r\n0\r\nX-T: 1\r\n\r\n"
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    "http10_keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "close": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n",
    "leading_crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "obs_text": b"GET / HTTP/1.1\r\nHost: a\r\nX: \t\x80\xff\r\n\r\n",
    "many_fields": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(6)) + b"\r\n",
    "http2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
}

def mask(payload, key):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))

def frame(b0, payload, key=b"\x37\xfa\x21\x3d", masked=True, length=None):
    n = len(payload) if length is None else length
    if n <= 125:
        head = bytes([b0, (0x80 if masked else 0) | n])
    elif n <= 0xFFFF:
        head = bytes([b0, (0x80 if masked else 0) | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, (0x80 if masked else 0) | 127]) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    return head + key + mask(payload, key)

def structured(*frames):
    out = b""
    for b0, payload in frames:
        if len(payload) < 255:
            out += bytes([b0, len(payload)]) + payload
        else:
            out += bytes([b0, 255]) + len(payload).to_bytes(2, "big") + payload
    return out

RAW, SMALL, STRUCT = 0, 1, 2
FRAMES = {
    "text_hello": (RAW, frame(0x81, b"Hello")),
    "fragmented": (RAW, frame(0x01, b"Hel") + frame(0x80, b"lo")),
    "ping_between": (RAW, frame(0x01, b"A") + frame(0x89, b"") + frame(0x80, b"B")),
    "pong": (RAW, frame(0x8A, b"Hello")),
    "binary_126": (RAW, frame(0x82, bytes(range(126)))),
    "binary_64bit_prefix": (RAW, frame(0x82, bytes(65536))[:200]),
    "close_reason": (RAW, frame(0x88, b"\x03\xe8bye")),
    "close_empty": (RAW, frame(0x88, b"")),
    "close_1byte": (RAW, frame(0x88, b"\x03")),
    "close_bad_code": (RAW, frame(0x88, b"\x03\xec")),
    "utf8_split": (RAW, frame(0x01, b"A\xe2") + frame(0x80, b"\x82\xac")),
    "utf8_bad": (RAW, frame(0x81, b"\xed\xa0\x80")),
    "unmasked": (RAW, frame(0x81, b"Hello", masked=False)),
    "rsv1": (RAW, frame(0xC1, b"x")),
    "reserved_op": (RAW, frame(0x83, b"")),
    "too_big": (SMALL, frame(0x82, bytes(65))),
    "msb_length": (RAW, bytes([0x82, 0xFF]) + b"\x80" + bytes(7) + bytes(4)),
    "two_messages": (RAW, frame(0x81, b"A") + frame(0x82, b"\x00\xff")),
    "s_text": (STRUCT, structured((0x81, b"hello"))),
    "s_fragments": (STRUCT, structured((0x01, b"caf\xc3"), (0x89, b"p"), (0x80, b"\xa9!"))),
    "s_close": (STRUCT, structured((0x88, b"\x0f\xa0done"))),
    "s_long": (STRUCT, structured((0x02, bytes(300)), (0x80, b"end"))),
    "s_small_limit": (STRUCT | SMALL, structured((0x01, bytes(40)), (0x80, bytes(40)))),
}

def write(target, name, mode, body, seed):
    path = os.path.join(HERE, "corpus", target, name)
    with open(path, "wb") as f:
        f.write(bytes([seed % 256, mode]) + body)

def main():
    for target in ("http_head_fuzz", "frame_fuzz"):
        shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)
        os.makedirs(os.path.join(HERE, "corpus", target))
    for i, (name, body) in enumerate(HTTP.items()):
        write("http_head_fuzz", name, 1 if name == "many_fields" else 0, body, 17 * i + 1)
    for i, (name, (mode, body)) in enumerate(FRAMES.items()):
        write("frame_fuzz", name, mode, body, 13 * i + 1)

if __name__ == "__main__":
    main()
