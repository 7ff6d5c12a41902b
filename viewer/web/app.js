// Parallax viewer page: reads the viewer's own feed (/feed, a WebSocket of
// JSON messages and binary JPEGs; viewer/doc.go describes it) and draws
// the coloured depth, the camera, the odometry path from above and the
// learner's curves. Nothing is loaded from elsewhere.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get("token");
  const q = token ? "?token=" + encodeURIComponent(token) : "";
  for (const id of ["layout", "metrics"]) $(id).href += q;
  const feed = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/feed" + q;
  $("fox").textContent = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + (token ? "/?token=…" : "");

  const MAX_PATH = 4000;
  const MAX_CURVE = 3600;
  const st = { cameras: [], refs: [], path: [], learner: [], ranges: {}, urls: {}, status: {}, depthShown: 0, msgs: 0 };

  // Turbo, the same polynomial as viewer/colormap.go, for the colour bar.
  function turbo(x) {
    x = Math.min(Math.max(x, 0), 1);
    const c = [
      [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
      [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
      [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ];
    return c.map((k) => {
      let v = 0, p = 1;
      for (const a of k) { v += a * p; p *= x; }
      return Math.round(255 * Math.min(Math.max(v, 0), 1));
    });
  }

  function setConn(state, text) {
    const el = $("conn");
    el.className = "pill " + state;
    el.textContent = text || state;
  }

  // One figure per camera and kind, made when its first image arrives.
  function figure(kind, cam) {
    const id = kind + "-" + cam;
    let img = $(id);
    if (img) return img;
    const box = $({ depth: "depths", flow: "flows" }[kind] || "images");
    if (kind === "flow") $("flowcard").hidden = false;
    const w = box.querySelector(".waiting");
    if (w) w.remove();
    const fig = document.createElement("figure");
    img = document.createElement("img");
    img.id = id;
    img.alt = kind + " " + (st.cameras[cam] || cam);
    fig.appendChild(img);
    const cap = document.createElement("figcaption");
    cap.appendChild(document.createTextNode(st.cameras[cam] || "camera " + cam));
    if (kind === "depth") {
      const near = document.createElement("span");
      near.id = "near-" + cam;
      const bar = document.createElement("canvas");
      bar.width = 256;
      bar.height = 1;
      const g = bar.getContext("2d");
      for (let i = 0; i < 256; i++) {
        const [r, gg, b] = turbo(1 - i / 255);
        g.fillStyle = `rgb(${r},${gg},${b})`;
        g.fillRect(i, 0, 1, 1);
      }
      const far = document.createElement("span");
      far.id = "far-" + cam;
      cap.append(near, bar, far);
    }
    fig.appendChild(cap);
    box.appendChild(fig);
    return img;
  }

  function onImage(buf) {
    const b = new Uint8Array(buf);
    const kind = { 1: "depth", 2: "image", 3: "flow" }[b[0]];
    if (!kind) return;
    const cam = b[1];
    const img = figure(kind, cam);
    const url = URL.createObjectURL(new Blob([b.subarray(2)], { type: "image/jpeg" }));
    const old = st.urls[img.id];
    st.urls[img.id] = url;
    img.onload = () => {
      if (old) URL.revokeObjectURL(old);
      if (kind === "depth") st.depthShown++;
    };
    img.src = url;
  }

  function showRange(cam, lo, hi) {
    st.ranges[cam] = [lo, hi];
    const n = $("near-" + cam), f = $("far-" + cam);
    if (n) n.textContent = "near " + lo.toFixed(1) + " m";
    if (f) f.textContent = "far " + hi.toFixed(1) + " m";
  }

  function addPose(p) {
    st.path.push([p[0], p[2]]);
    if (st.path.length > MAX_PATH) st.path = st.path.filter((_, i) => i % 2 === 0);
  }

  // The path from above: x to the right, z (forward) up, one scale for both.
  function drawPath() {
    const c = $("path"), g = c.getContext("2d");
    const W = c.width, H = c.height, pad = 24;
    g.fillStyle = "#0b0f14";
    g.fillRect(0, 0, W, H);
    const pts = st.path;
    if (pts.length === 0) return;
    let x0 = Infinity, x1 = -Infinity, z0 = Infinity, z1 = -Infinity;
    for (const [x, z] of pts) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      z0 = Math.min(z0, z); z1 = Math.max(z1, z);
    }
    // Fit the whole path, however short (a few centimetres of odometry
    // still show as a line); the grid gives the scale.
    const span = Math.max(x1 - x0, z1 - z0, 0.01);
    const s = Math.min((W - 2 * pad) / span, (H - 2 * pad) / span);
    const cx = (x0 + x1) / 2, cz = (z0 + z1) / 2;
    const X = (x) => W / 2 + (x - cx) * s, Y = (z) => H / 2 - (z - cz) * s;
    // Grid every 1, 2, 5 times a power of ten metres, at least 40 px apart.
    let step = 1e-3;
    for (const m of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6]) {
      step = m * 1e-3;
      if (step * s >= 40) break;
    }
    g.strokeStyle = "#222a33";
    g.lineWidth = 1;
    g.beginPath();
    for (let x = Math.floor((cx - W / 2 / s) / step) * step; X(x) <= W; x += step) { g.moveTo(X(x), 0); g.lineTo(X(x), H); }
    for (let z = Math.floor((cz - H / 2 / s) / step) * step; Y(z) >= 0; z += step) { g.moveTo(0, Y(z)); g.lineTo(W, Y(z)); }
    g.stroke();
    g.fillStyle = "#8b949e";
    g.font = "11px system-ui";
    g.fillText((step < 1 ? (step * 100).toPrecision(2) + " cm" : step.toPrecision(3) + " m") + " grid", 6, H - 6);
    g.strokeStyle = "#ffb000";
    g.lineWidth = 3;
    g.lineJoin = "round";
    g.beginPath();
    pts.forEach(([x, z], i) => (i ? g.lineTo(X(x), Y(z)) : g.moveTo(X(x), Y(z))));
    g.stroke();
    const [lx, lz] = pts[pts.length - 1];
    g.fillStyle = "#ff4d4d";
    g.beginPath();
    g.arc(X(lx), Y(lz), 5, 0, 2 * Math.PI);
    g.fill();
    $("pose").textContent = `${pts.length} poses; now x ${lx.toFixed(2)} m, z ${lz.toFixed(2)} m`;
  }

  function addLearner(m) {
    st.learner.push(m);
    if (st.learner.length > MAX_CURVE) st.learner.shift();
    const parts = [`${m.steps} steps`, `${(m.sps || 0).toFixed(1)}/s`, `weights v${m.version}`];
    if (m.loss !== undefined) parts.push(`loss ${m.loss.toFixed(4)}`);
    if (m.absRel !== undefined) parts.push(`live abs_rel ${m.absRel.toFixed(3)}`);
    if (m.rollbacks) parts.push(`${m.rollbacks} rollbacks`);
    if (!m.adapting) parts.push("frozen");
    $("learnline").textContent = parts.join(" · ");
  }

  // Loss (left axis) and live abs_rel (right axis) against time.
  function drawLearner() {
    const c = $("learner"), g = c.getContext("2d");
    const W = c.width, H = c.height, L = 48, R = 48, T = 10, B = 22;
    g.fillStyle = "#0b0f14";
    g.fillRect(0, 0, W, H);
    const pts = st.learner;
    if (pts.length < 1) return;
    const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
    const X = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    g.fillStyle = "#8b949e";
    g.font = "11px system-ui";
    g.fillText(`${Math.round(t1 - t0)} s`, W - R - 30, H - 6);
    const curve = (key, color, side) => {
      const v = pts.filter((p) => p[key] !== undefined && isFinite(p[key]));
      if (v.length === 0) return;
      let lo = Math.min(...v.map((p) => p[key])), hi = Math.max(...v.map((p) => p[key]));
      if (hi - lo < 1e-9) { lo -= 0.5 * Math.abs(lo) + 1e-3; hi += 0.5 * Math.abs(hi) + 1e-3; }
      const Y = (y) => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.beginPath();
      v.forEach((p, i) => (i ? g.lineTo(X(p.t), Y(p[key])) : g.moveTo(X(p.t), Y(p[key]))));
      g.stroke();
      g.fillStyle = color;
      const x = side === "left" ? 4 : W - R + 4;
      g.fillText(hi.toPrecision(3), x, T + 10);
      g.fillText(lo.toPrecision(3), x, H - B);
    };
    curve("loss", "#4fc3f7", "left");
    curve("absRel", "#f06292", "right");
  }

  function showDiagnostics(list) {
    const ul = $("diag");
    ul.replaceChildren(...list.map((s) => {
      const li = document.createElement("li");
      li.className = "lvl-" + s.level;
      li.textContent = `${s.name}: ${s.message}`;
      return li;
    }));
  }

  function showStatus() {
    const ul = $("status");
    ul.replaceChildren(...Object.values(st.status).slice(-5).map((s) => {
      const li = document.createElement("li");
      li.className = "lvl-" + s.level;
      li.textContent = s.message;
      return li;
    }));
  }

  function onJSON(m) {
    switch (m.op) {
      case "hello":
        $("name").textContent = m.name || "parallax";
        $("ns").textContent = m.namespace ? "namespace " + m.namespace : "(starting)";
        st.cameras = m.cameras || [];
        st.refs = m.reference || [];
        st.path = [];
        (m.path || []).forEach(addPose);
        st.learner = [];
        (m.learner || []).forEach(addLearner);
        if (m.diagnostics) showDiagnostics(m.diagnostics);
        for (const [cam, r] of Object.entries(m.ranges || {})) showRange(+cam, r[0], r[1]);
        break;
      case "odom":
        addPose(m.p);
        break;
      case "range":
        showRange(m.camera, m.min, m.max);
        break;
      case "learner":
        addLearner(m);
        break;
      case "diagnostics":
        showDiagnostics(m.status || []);
        break;
      case "status":
        st.status[m.id || "s" + st.msgs] = m;
        showStatus();
        break;
      case "removeStatus":
        for (const id of m.statusIds || []) delete st.status[id];
        showStatus();
        break;
    }
  }

  let retry = 500;
  function connect() {
    setConn("connecting");
    const ws = new WebSocket(feed);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      retry = 500;
      setConn("live");
    };
    ws.onmessage = (ev) => {
      st.msgs++;
      if (typeof ev.data === "string") onJSON(JSON.parse(ev.data));
      else onImage(ev.data);
    };
    ws.onclose = () => {
      setConn("disconnected", `disconnected, retrying in ${(retry / 1000).toFixed(1)} s`);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  // Redraw the canvases a few times a second, not at every message.
  let last = 0;
  setInterval(() => {
    drawPath();
    drawLearner();
    const now = performance.now();
    if (last) $("rate").textContent = `${Math.round((st.msgs * 1000) / (now - last))} msg/s`;
    st.msgs = 0;
    last = now;
  }, 250);

  // For tests and the curious: what the page has drawn so far.
  window.parallax = {
    state: st,
    ready: () => st.depthShown > 0 && st.path.length >= 2,
  };
  connect();
})();
