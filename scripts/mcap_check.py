#!/usr/bin/env python3
"""An independent MCAP reader and checker for Parallax recordings.

It shares no code with the Go side: the file format is read from the MCAP
specification (https://mcap.dev/spec), zstd chunks with python3-zstandard,
and every message is decoded with Python's protobuf from the
FileDescriptorSet embedded in the file. With --proto-dir it also decodes each
message with modules that protoc generates from the .proto files there
(msgs/proto: Foxglove's schemas and parallax.v1) and checks both decodings
agree.

    /usr/bin/python3 scripts/mcap_check.py FILE [--proto-dir msgs/proto]

It checks the magic at both ends, record framing, chunk CRCs and sizes, the
data section CRC, the summary CRC, that every chunk index points at its
chunk and every message index entry at a message of its channel and time,
and that the statistics match what was counted. It prints one JSON object
(complete, truncated, messages, chunks, channels: topic -> schema, count,
first decoded message; errors) and exits 1 when a check fails. A truncated
file is read up to its last complete chunk: "complete" is false, and that is
not an error.

Needs python3-zstandard and python3-protobuf (scripts/deps.sh installs them).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

MAGIC = b"\x89MCAP0\r\n"
OP = {1: "header", 2: "footer", 3: "schema", 4: "channel", 5: "message", 6: "chunk", 7: "message_index",
      8: "chunk_index", 9: "attachment", 10: "attachment_index", 11: "statistics", 12: "metadata",
      13: "metadata_index", 14: "summary_offset", 15: "data_end"}


class Reader:
    """Little-endian field reader over one record's bytes."""

    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, n):
        if self.o + n > len(self.b):
            raise ValueError(f"field of {n} bytes overruns a {len(self.b)}-byte record")
        v = self.b[self.o:self.o + n]
        self.o += n
        return v

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u32()).decode("utf-8")

    def bytes32(self):
        return self.take(self.u32())

    def rest(self):
        v = self.b[self.o:]
        self.o = len(self.b)
        return v

    def map_of(self, key, value):
        r = Reader(self.bytes32())
        out = {}
        while r.o < len(r.b):
            k = key(r)
            out[k] = value(r)
        return out


def records(b, base=0):
    """Yields (offset, opcode, body) for the records of b from offset 0; raises at a cut record."""
    o = 0
    while o < len(b):
        if o + 9 > len(b):
            raise EOFError(f"record header cut at byte {base + o}")
        op = b[o]
        n = struct.unpack_from("<Q", b, o + 1)[0]
        if o + 9 + n > len(b):
            raise EOFError(f"{OP.get(op, op)} record at byte {base + o} has {len(b) - o - 9} of its {n} bytes")
        yield o, op, b[o + 9:o + 9 + n]
        o += 9 + n


def decompress(compression, data, size):
    if compression == "":
        return data
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            sys.exit("mcap_check: no zstandard module: apt-get install python3-zstandard (scripts/deps.sh)")
        return zstandard.ZstdDecompressor().decompress(data, max_output_size=size)
    raise ValueError(f"compression {compression!r} not supported by this checker")


class Decoder:
    """Decodes messages with the FileDescriptorSets embedded in the file."""

    def __init__(self):
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        self.pb2, self.pool_mod, self.mf = descriptor_pb2, descriptor_pool, message_factory
        self.classes = {}

    def cls(self, name, data):
        key = (name, data)
        if key not in self.classes:
            fds = self.pb2.FileDescriptorSet.FromString(data)
            pool = self.pool_mod.DescriptorPool()
            for f in fds.file:
                pool.Add(f)
            desc = pool.FindMessageTypeByName(name)
            if hasattr(self.mf, "GetMessageClass"):
                self.classes[key] = self.mf.GetMessageClass(desc)
            else:
                self.classes[key] = self.mf.MessageFactory(pool).GetPrototype(desc)
        return self.classes[key]


def generated(proto_dir):
    """protoc-generated classes of every message under proto_dir, by full name."""
    out = tempfile.mkdtemp(prefix="mcap_check_pb2_")
    files = []
    for root, _, names in os.walk(proto_dir):
        files += [os.path.relpath(os.path.join(root, n), proto_dir) for n in names if n.endswith(".proto")]
    r = subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={out}"] + sorted(files), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"mcap_check: protoc failed: {r.stderr}")
    sys.path.insert(0, out)
    import importlib
    classes = {}
    for f in files:
        mod = importlib.import_module(f[:-len(".proto")].replace("/", ".").replace("-", "_") + "_pb2")
        for name, d in mod.DESCRIPTOR.message_types_by_name.items():
            classes[d.full_name] = getattr(mod, name)
    return classes


def summarise(m):
    """A JSON-friendly view of a decoded message: scalars as they are, bytes by length."""
    from google.protobuf.json_format import MessageToDict
    d = MessageToDict(m, preserving_proto_field_name=True)
    if "data" in d:
        d["data"] = f"{len(m.data)} bytes"
    return d


def check(path, proto_dir=None):
    with open(path, "rb") as f:
        b = f.read()
    res = {"file": path, "size": len(b), "complete": False, "truncated": False, "messages": 0, "chunks": 0,
           "channels": {}, "metadata": {}, "errors": []}
    err = res["errors"].append
    if b[:8] != MAGIC:
        err("no MCAP magic at the start")
        return res
    schemas, channels, counts, times = {}, {}, {}, {}
    msg_offsets = {}  # (chunk_offset, offset_in_chunk) -> (channel, log_time)
    chunk_at = {}     # file offset -> (start, end, compression)
    decoder = Decoder()
    gen = generated(proto_dir) if proto_dir else None
    first = {}

    def on_record(op, body, chunk_off=None, rel=None):
        r = Reader(body)
        if op == 3:
            sid, name, enc, data = r.u16(), r.string(), r.string(), r.bytes32()
            schemas[sid] = (name, enc, bytes(data))
        elif op == 4:
            cid, sid, topic, enc = r.u16(), r.u16(), r.string(), r.string()
            channels[cid] = (topic, sid, enc)
        elif op == 5:
            cid, _seq, log_time, _pub = r.u16(), r.u32(), r.u64(), r.u64()
            data = r.rest()
            if cid not in channels:
                err(f"message on undeclared channel {cid}")
                return
            topic, sid, enc = channels[cid]
            counts[cid] = counts.get(cid, 0) + 1
            times.setdefault(cid, []).append(log_time)
            if chunk_off is not None:
                msg_offsets[(chunk_off, rel)] = (cid, log_time)
            name, senc, sdata = schemas[sid]
            if enc != "protobuf" or senc != "protobuf":
                err(f"{topic}: encoding {enc}/{senc}, want protobuf")
                return
            m = decoder.cls(name, sdata).FromString(bytes(data))
            if gen is not None:
                g = gen.get(name)
                if g is None:
                    err(f"{topic}: {name} is not declared under {proto_dir}")
                else:
                    gm = g.FromString(bytes(data))
                    if gm.SerializeToString(deterministic=True) != m.SerializeToString(deterministic=True):
                        err(f"{topic}: the embedded schema and {proto_dir} decode a message differently")
            if cid not in first:
                first[cid] = summarise(m)
        elif op == 12:
            name = r.string()
            res["metadata"][name] = r.map_of(lambda x: x.string(), lambda x: x.string())

    o = 8
    data_end = None
    footer = None
    crc = zlib.crc32(MAGIC)
    try:
        for off, op, body in records(b[8:], base=8):
            at = 8 + off
            if op == 6:
                r = Reader(body)
                start, end, usize, ucrc = r.u64(), r.u64(), r.u64(), r.u32()
                comp = r.string()
                recs = r.take(r.u64())
                raw = decompress(comp, bytes(recs), usize)
                if len(raw) != usize:
                    raise EOFError(f"chunk at byte {at} decompresses to {len(raw)} bytes, header says {usize}")
                if ucrc and zlib.crc32(raw) != ucrc:
                    raise EOFError(f"chunk at byte {at} fails its CRC")
                for roff, rop, rbody in records(raw):
                    on_record(rop, rbody, at, roff)
                chunk_at[at] = (start, end, comp)
                res["chunks"] += 1
            elif op == 15:
                data_end = (at, Reader(body).u32())
            elif op == 2:
                footer = (at, body)
                break
            else:
                on_record(op, body)
            if op != 2 and data_end is None:
                crc = zlib.crc32(b[at:at + 9 + len(body)], crc)
            o = at + 9 + len(body)
    except EOFError as e:
        res["truncated"] = True
        res["stop"] = str(e)
    except ValueError as e:
        err(f"malformed record: {e}")

    if footer is not None:
        fat, fbody = footer
        if b[-8:] != MAGIC or fat + 9 + len(fbody) + 8 != len(b):
            err("no closing magic after the footer")
        else:
            res["complete"] = True
        fr = Reader(fbody)
        summary_start, summary_offset_start, summary_crc = fr.u64(), fr.u64(), fr.u32()
        if data_end is None:
            err("no DataEnd record")
        elif data_end[1] and data_end[1] != crc:
            err(f"data section CRC {data_end[1]:08x}, computed {crc:08x}")
        if summary_start:
            if summary_crc and zlib.crc32(b[summary_start:fat + 9 + 16]) != summary_crc:
                err("summary CRC mismatch")
            check_summary(b[summary_start:fat], summary_start, b, chunk_at, msg_offsets, counts, channels, err, res)
    res["messages"] = sum(counts.values())
    for cid, (topic, sid, _) in channels.items():
        res["channels"][topic] = {"schema": schemas[sid][0], "count": counts.get(cid, 0), "first": first.get(cid)}
    return res


def check_summary(s, base, b, chunk_at, msg_offsets, counts, channels, err, res):
    """Checks the summary section against what the data section holds."""
    n_chunk_index = 0
    for off, op, body in records(s, base):
        r = Reader(body)
        if op == 8:
            n_chunk_index += 1
            start, end, cstart, clen = r.u64(), r.u64(), r.u64(), r.u64()
            mi = r.map_of(lambda x: x.u16(), lambda x: x.u64())
            milen = r.u64()
            comp = r.string()
            if cstart not in chunk_at:
                err(f"chunk index points at byte {cstart}, where no chunk starts")
                continue
            if chunk_at[cstart] != (start, end, comp):
                err(f"chunk index at {cstart} disagrees with its chunk's times or compression")
            for cid, mo in mi.items():
                if b[mo] != 7:
                    err(f"message index offset {mo} does not point at a message index")
                    continue
                n = struct.unpack_from("<Q", b, mo + 1)[0]
                rr = Reader(b[mo + 9:mo + 9 + n])
                if rr.u16() != cid:
                    err(f"message index at {mo} is not channel {cid}'s")
                entries = rr.bytes32()
                for k in range(0, len(entries), 16):
                    t, o = struct.unpack_from("<QQ", entries, k)
                    if msg_offsets.get((cstart, o)) != (cid, t):
                        err(f"message index entry ({t}, {o}) of channel {cid} matches no message of the chunk at {cstart}")
        elif op == 11:
            mc = r.u64()
            r.u16(); r.u32(); r.u32(); r.u32()
            cc = r.u32()
            r.u64(); r.u64()
            per = r.map_of(lambda x: x.u16(), lambda x: x.u64())
            if mc != sum(counts.values()):
                err(f"statistics say {mc} messages, the chunks hold {sum(counts.values())}")
            if cc != len(chunk_at):
                err(f"statistics say {cc} chunks, the file holds {len(chunk_at)}")
            for cid, n in per.items():
                if counts.get(cid, 0) != n:
                    err(f"statistics say channel {cid} has {n} messages, counted {counts.get(cid, 0)}")
    if n_chunk_index != len(chunk_at):
        err(f"{n_chunk_index} chunk indexes for {len(chunk_at)} chunks")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--proto-dir", help="also decode with protoc-generated modules of the .proto files here")
    a = ap.parse_args()
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        sys.exit("mcap_check: no protobuf module: apt-get install python3-protobuf (scripts/deps.sh)")
    res = check(a.file, a.proto_dir)
    print(json.dumps(res, indent=1, sort_keys=True))
    sys.exit(1 if res["errors"] else 0)


if __name__ == "__main__":
    main()
