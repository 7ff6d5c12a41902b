// A Foxglove WebSocket client written as a Foxglove user would write one:
// Foxglove's own protocol package (@foxglove/ws-protocol) on `ws`, and
// protobufjs decoding every message from the schema the server advertises
// (a base64 FileDescriptorSet), nothing from Parallax.
//
//   node client.js URL SUBPROTOCOL TOPIC[,TOPIC...] [COUNT] [TIMEOUT_MS]
//
// It subscribes to the topics, waits for COUNT messages of each (default
// 3), and prints one JSON object: the negotiated subprotocol, serverInfo,
// every advertised channel, a summary of the messages of each topic, and
// the status messages. It exits 0 when every topic got COUNT messages, 1
// on timeout (the JSON still printed), 2 on a usage or protocol error.
"use strict";

const { FoxgloveClient } = require("@foxglove/ws-protocol");
const WebSocket = require("ws");
const protobuf = require("protobufjs");
const descriptor = require("protobufjs/ext/descriptor");

const [url, subprotocol, topicsArg, countArg, timeoutArg] = process.argv.slice(2);
if (!url || !subprotocol || !topicsArg) {
  console.error("usage: node client.js URL SUBPROTOCOL TOPIC[,TOPIC...] [COUNT] [TIMEOUT_MS]");
  process.exit(2);
}
const want = topicsArg.split(",");
const count = Number(countArg) || 3;
const timeout = Number(timeoutArg) || 20000;

const out = { subprotocol: null, serverInfo: null, advertised: [], received: {}, statuses: [], errors: [] };
const subs = new Map(); // subscription id -> { topic, schemaName, type }

function finish(code) {
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(code);
}

// get reads a field by its .proto name: protobufjs keeps the names of a
// descriptor-built type as they are (frame_id), generated code camel-cases
// them (frameId).
function get(m, name) {
  if (m[name] !== undefined) return m[name];
  return m[name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())];
}

function bytesOf(b) {
  return b instanceof Uint8Array ? b : new Uint8Array(b || []);
}

// summary turns a decoded message into what the Go test checks.
function summary(schemaName, m, stamp) {
  const s = { stamp_ns: stamp.toString() };
  switch (schemaName) {
    case "foxglove.RawImage": {
      const data = bytesOf(get(m, "data"));
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      Object.assign(s, { frame_id: get(m, "frame_id"), width: get(m, "width"), height: get(m, "height"), encoding: get(m, "encoding"), step: get(m, "step"), bytes: data.length });
      let min = Infinity, max = -Infinity;
      if (get(m, "encoding") === "32FC1") {
        for (let i = 0; i + 4 <= data.length; i += 4) {
          const v = view.getFloat32(i, true);
          if (v > 0) { min = Math.min(min, v); max = Math.max(max, v); }
        }
      } else if (get(m, "encoding") === "16UC1") {
        for (let i = 0; i + 2 <= data.length; i += 2) {
          const v = view.getUint16(i, true) / 1000;
          if (v > 0) { min = Math.min(min, v); max = Math.max(max, v); }
        }
      }
      if (isFinite(min)) Object.assign(s, { min_m: min, max_m: max });
      break;
    }
    case "foxglove.CompressedImage": {
      const data = bytesOf(get(m, "data"));
      Object.assign(s, { frame_id: get(m, "frame_id"), format: get(m, "format"), bytes: data.length, jpeg: data[0] === 0xff && data[1] === 0xd8 });
      break;
    }
    case "foxglove.PointCloud": {
      const data = bytesOf(get(m, "data"));
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const fields = (get(m, "fields") || []).map((f) => ({ name: f.name, offset: f.offset, type: f.type }));
      const stride = get(m, "point_stride");
      Object.assign(s, { frame_id: get(m, "frame_id"), point_stride: stride, fields, points: stride ? data.length / stride : 0 });
      const off = (name) => (fields.find((f) => f.name === name) || {}).offset;
      if (stride && data.length >= stride) {
        let zmin = Infinity, zmax = -Infinity;
        for (let i = 0; i + stride <= data.length; i += stride) {
          const z = view.getFloat32(i + off("z"), true);
          zmin = Math.min(zmin, z);
          zmax = Math.max(zmax, z);
        }
        s.first = ["x", "y", "z"].map((n) => view.getFloat32(off(n), true)).concat(["red", "green", "blue"].map((n) => data[off(n)]));
        Object.assign(s, { z_min: zmin, z_max: zmax });
      }
      break;
    }
    case "parallax.v1.Odometry": {
      const p = (get(m, "pose") && get(m, "pose").position) || {};
      Object.assign(s, { frame_id: get(m, "frame_id"), child_frame_id: get(m, "child_frame_id"), seq: Number(get(m, "seq") || 0), position: [p.x || 0, p.y || 0, p.z || 0] });
      break;
    }
    case "foxglove.PosesInFrame":
      Object.assign(s, { frame_id: get(m, "frame_id"), poses: (get(m, "poses") || []).length });
      break;
    case "foxglove.FrameTransform":
      Object.assign(s, { parent: get(m, "parent_frame_id"), child: get(m, "child_frame_id") });
      break;
    default:
      s.keys = Object.keys(m.toJSON());
  }
  return s;
}

const ws = new WebSocket(url, [subprotocol]);
const client = new FoxgloveClient({ ws });
client.on("open", () => { out.subprotocol = ws.protocol; });
client.on("error", (e) => { out.errors.push(String(e && e.message ? e.message : e)); });
client.on("close", () => finish(Object.keys(out.received).length === want.length && done() ? 0 : 1));
client.on("serverInfo", (info) => { out.serverInfo = info; });
client.on("status", (s) => out.statuses.push(s));
client.on("advertise", (channels) => {
  for (const ch of channels) {
    out.advertised.push({ id: ch.id, topic: ch.topic, encoding: ch.encoding, schemaName: ch.schemaName, schemaEncoding: ch.schemaEncoding, schemaBytes: Buffer.from(ch.schema, "base64").length });
    if (!want.includes(ch.topic)) continue;
    if (ch.encoding !== "protobuf" || ch.schemaEncoding !== "protobuf") {
      out.errors.push(`${ch.topic}: encoding ${ch.encoding}, schemaEncoding ${ch.schemaEncoding}`);
      continue;
    }
    // The schema alone: a binary FileDescriptorSet with every import.
    const set = descriptor.FileDescriptorSet.decode(Buffer.from(ch.schema, "base64"));
    const type = protobuf.Root.fromDescriptor(set).lookupType(ch.schemaName);
    const id = client.subscribe(ch.id);
    subs.set(id, { topic: ch.topic, schemaName: ch.schemaName, type });
  }
  const missing = want.filter((t) => !channels.some((c) => c.topic === t));
  if (missing.length) out.errors.push("not advertised: " + missing.join(", "));
});

function done() {
  return want.every((t) => out.received[t] && out.received[t].count >= count);
}

client.on("message", ({ subscriptionId, timestamp, data }) => {
  const sub = subs.get(subscriptionId);
  if (!sub) {
    out.errors.push(`message for unknown subscription ${subscriptionId}`);
    return;
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const m = sub.type.decode(bytes);
  const r = out.received[sub.topic] || (out.received[sub.topic] = { schemaName: sub.schemaName, count: 0, samples: [] });
  r.count++;
  if (r.samples.length < count) r.samples.push(summary(sub.schemaName, m, timestamp));
  if (done()) {
    client.close();
    finish(0);
  }
});

setTimeout(() => {
  out.errors.push(`timeout after ${timeout} ms`);
  finish(1);
}, timeout);
