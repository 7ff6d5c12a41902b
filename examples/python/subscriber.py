#!/usr/bin/env python3
"""A parallax subscriber written as a user would write one, with only the .proto files.

It speaks the NATS text protocol over a plain socket (no NATS library) and
decodes payloads with modules that protoc generates at start-up from
msgs/proto into a temporary directory, so they can never drift from the
contract.

    python3 examples/python/subscriber.py [--url nats://127.0.0.1:4222]
        [--count N] [--proto-dir msgs/proto] [SUBJECT]

Needs protoc (Debian: protobuf-compiler) and python3-protobuf: run `make deps`.
"""
import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import urllib.parse


def generate(proto_dir):
    """Runs protoc --python_out over every .proto file and imports the modules."""
    out = tempfile.mkdtemp(prefix="parallax_pb2_")
    files = []
    for root, _, names in os.walk(proto_dir):
        files += [os.path.relpath(os.path.join(root, n), proto_dir) for n in names if n.endswith(".proto")]
    if not files:
        sys.exit(f"subscriber: no .proto files under {proto_dir}")
    try:
        r = subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={out}"] + sorted(files),
                           capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("subscriber: protoc not found: run `make deps` (Debian package protobuf-compiler)")
    if r.returncode != 0:
        sys.exit(f"subscriber: protoc failed: {r.stderr}")
    sys.path.insert(0, out)
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        sys.exit("subscriber: no protobuf module: run `make deps` (Debian package python3-protobuf)")
    from foxglove import RawImage_pb2, CameraCalibration_pb2, CompressedImage_pb2  # noqa: E402
    from parallax.v1 import odometry_pb2  # noqa: E402
    return {
        "depth": RawImage_pb2.RawImage,
        "camera_info": CameraCalibration_pb2.CameraCalibration,
        "image": CompressedImage_pb2.CompressedImage,
        "odom": odometry_pb2.Odometry,
    }


class NATS:
    """The NATS client protocol, enough to subscribe: INFO, CONNECT, SUB, PING/PONG, MSG."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=10)
        self.buf = b""
        line = self.line()
        if not line.startswith(b"INFO "):
            raise IOError(f"expected INFO, got {line!r}")
        opts = {"verbose": False, "pedantic": False, "name": "parallax python example", "lang": "python3"}
        if u.username and u.password is not None:
            opts["user"] = urllib.parse.unquote(u.username)
            opts["pass"] = urllib.parse.unquote(u.password)
        elif u.username:
            opts["auth_token"] = urllib.parse.unquote(u.username)
        self.send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        while True:  # the server answers PONG once CONNECT is accepted, -ERR otherwise
            line = self.line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise IOError(line.decode())

    def send(self, b):
        self.sock.sendall(b)

    def fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise IOError("connection closed by the server")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:  # the payload and its trailing CRLF
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def subscribe(self, subject, sid=1):
        self.send(f"SUB {subject} {sid}\r\n".encode())

    def messages(self):
        """Yields (subject, payload); answers the server's PINGs."""
        while True:
            line = self.line()
            if line == b"PING":
                self.send(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                # MSG <subject> <sid> [reply-to] <#bytes>
                parts = line.split()
                yield parts[1].decode(), self.exact(int(parts[-1]))
            elif line.startswith(b"-ERR"):
                raise IOError(line.decode())
            # +OK, INFO updates and PONG are ignored


def summarize(types, subject, data):
    kind = subject.rsplit(".", 1)[-1]
    cls = types.get(kind)
    if cls is None:
        return f"{len(data)} bytes"
    m = cls()
    m.ParseFromString(data)
    if kind == "depth":
        n = m.width * m.height
        if m.encoding != "32FC1" or len(m.data) < 4 * n:
            return f"depth {m.width}x{m.height} {m.encoding}: not 32FC1 metres"
        # 32FC1: little-endian float32 metres, rows of m.step bytes
        vals = []
        for y in range(m.height):
            vals += struct.unpack_from(f"<{m.width}f", m.data, y * m.step)
        vals = [v for v in vals if v == v and v not in (float("inf"), float("-inf"))]
        return (f"depth width {m.width} height {m.height} encoding {m.encoding} "
                f"min {min(vals):.3f} median {statistics.median(vals):.3f} max {max(vals):.3f}")
    if kind == "camera_info":
        return f"camera_info {m.width}x{m.height} K " + " ".join(f"{k:.3f}" for k in m.K)
    if kind == "odom":
        p = m.pose.position
        return f"odom seq {m.seq} position {p.x:.3f} {p.y:.3f} {p.z:.3f}"
    if kind == "image":
        return f"image {m.format} {len(m.data)} bytes"
    return f"{len(data)} bytes"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("subject", nargs="?", default="parallax.>")
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--count", type=int, default=0, help="stop after this many messages (0: no limit)")
    ap.add_argument("--proto-dir", default=os.path.join(here, "..", "..", "msgs", "proto"))
    args = ap.parse_args()
    types = generate(args.proto_dir)
    try:
        nc = NATS(args.url)
    except OSError as e:
        u = urllib.parse.urlparse(args.url)  # print no credentials
        sys.exit(f"subscriber: cannot reach the NATS server at {u.scheme}://{u.hostname}:{u.port or 4222}: {e}")
    nc.subscribe(args.subject)
    nc.send(b"PING\r\n")
    nc.sock.settimeout(None)
    print(f"subscribed to {args.subject}", flush=True)
    n = 0
    for subject, data in nc.messages():
        print(subject, summarize(types, subject, data), flush=True)
        n += 1
        if args.count and n >= args.count:
            break


if __name__ == "__main__":
    main()
