// The consultation room: WebRTC video between the two participants, signalling, chat and a shared
// image viewer over one websocket (see smartcare/telemedicine/consumers.py). Plain JavaScript, no
// dependency: the browser's RTCPeerConnection does the media.
(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("room-config").textContent);
  const labels = document.getElementById("room-labels").dataset;
  const state = document.getElementById("room-state");
  const remoteVideo = document.getElementById("remote-video");
  const localVideo = document.getElementById("local-video");
  const chatLog = document.getElementById("chat-log");
  const setState = (text, kind) => { state.textContent = text; state.dataset.state = kind; };

  // --- Media and the peer connection --------------------------------------------------------------
  let localStream = null;
  const media = navigator.mediaDevices && navigator.mediaDevices.getUserMedia
    ? navigator.mediaDevices.getUserMedia({ video: true, audio: true }).then((stream) => {
      localStream = stream;
      localVideo.srcObject = stream;
      return stream;
    }).catch((err) => {
      setState(labels.nocamera, "nomedia");
      report("failure", { stage: "getUserMedia", error: String(err && err.name || err) });
      return null;
    })
    : Promise.resolve(null);

  let pc = null;
  let socket = null;
  let statsTimer = null;
  // Signals are handled one after the other, after the camera is ready: an answer never overtakes
  // its offer and ICE candidates wait for the remote description.
  let chain = Promise.resolve();
  const queue = (job) => { chain = chain.then(job).catch((err) => report("failure", { stage: "signal", error: String(err) })); };

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }
  function report(type, detail) { send({ type, detail }); }

  function newPeer() {
    if (pc) pc.close();
    pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
    if (localStream) for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
    else { pc.addTransceiver("video", { direction: "recvonly" }); pc.addTransceiver("audio", { direction: "recvonly" }); }
    pc.onicecandidate = (e) => { if (e.candidate) send({ type: "signal", data: { candidate: e.candidate.toJSON() } }); };
    pc.ontrack = (e) => {
      if (remoteVideo.srcObject !== e.streams[0]) {
        remoteVideo.srcObject = e.streams[0];
        remoteVideo.play().catch(() => {});
      }
    };
    pc.oniceconnectionstatechange = () => {
      const s = pc.iceConnectionState;
      if (s === "connected" || s === "completed") setState(labels.connected, "connected");
      if (s === "failed") { setState(labels.failed, "failed"); report("failure", { stage: "ice", state: s }); }
      if (s === "disconnected") report("quality", { state: s });
    };
    clearInterval(statsTimer);
    statsTimer = setInterval(sampleQuality, 15000);
    return pc;
  }

  async function sampleQuality() {
    if (!pc || pc.iceConnectionState !== "connected" && pc.iceConnectionState !== "completed") return;
    const detail = {};
    (await pc.getStats()).forEach((r) => {
      if (r.type === "candidate-pair" && r.state === "succeeded" && r.currentRoundTripTime !== undefined) detail.rtt_ms = Math.round(r.currentRoundTripTime * 1000);
      if (r.type === "inbound-rtp" && r.kind === "video") {
        detail.packets_lost = r.packetsLost || 0;
        detail.packets_received = r.packetsReceived || 0;
        detail.frames_per_second = r.framesPerSecond || 0;
        detail.jitter_ms = Math.round((r.jitter || 0) * 1000);
      }
    });
    report("quality", detail);
  }

  async function makeOffer() {
    await media;
    const peer = newPeer();
    const offer = await peer.createOffer();
    await peer.setLocalDescription(offer);
    send({ type: "signal", data: { description: peer.localDescription.toJSON() } });
  }

  async function onSignal(data) {
    await media;
    if (data.description) {
      const description = data.description;
      if (description.type === "offer") {
        const peer = newPeer();
        await peer.setRemoteDescription(description);
        await peer.setLocalDescription(await peer.createAnswer());
        send({ type: "signal", data: { description: peer.localDescription.toJSON() } });
      } else if (pc) {
        await pc.setRemoteDescription(description);
      }
    } else if (data.candidate && pc) {
      await pc.addIceCandidate(data.candidate);
    }
  }

  // --- Chat ------------------------------------------------------------------------------------------
  function showChat(m) {
    const item = document.createElement("li");
    item.className = "list-group-item py-1";
    item.dataset.testid = "chat-message";
    const who = document.createElement("strong");
    who.textContent = m.author + " ";
    const when = document.createElement("small");
    when.className = "text-muted";
    when.textContent = (m.at || "").slice(11, 16) + " ";
    item.append(when, who, document.createTextNode(m.text));
    chatLog.append(item);
    chatLog.scrollTop = chatLog.scrollHeight;
  }
  document.getElementById("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("chat-text");
    const text = input.value.trim();
    if (!text) return;
    send({ type: "chat", text });
    input.value = "";
  });

  // --- Shared viewer ----------------------------------------------------------------------------------
  const series = config.series || [];
  const select = document.getElementById("series-select");
  const slider = document.getElementById("slice");
  const img = document.getElementById("frame");
  const canvas = document.getElementById("overlay");
  const position = document.getElementById("position");
  const viewerLabel = document.getElementById("viewer-label");
  const viewerEl = document.getElementById("viewer");
  const annotationField = document.getElementById("annotations");
  const annotationList = document.getElementById("annotation-list");
  const storageKey = "tm-annotations-" + config.consultation;
  let annotations = [];
  try { annotations = JSON.parse(sessionStorage.getItem(storageKey) || "[]"); } catch (e) { annotations = []; }
  const view = { s: 0, index: 0, wc: null, ww: null };

  series.forEach((s, i) => select.add(new Option(s.label || ("#" + s.series), String(i))));
  if (!series.length) {
    document.getElementById("no-images").classList.remove("d-none");
    viewerEl.classList.add("d-none");
  }

  const currentFrame = () => series[view.s] && series[view.s].frames[view.index];
  function frameUrl(f) {
    let url = config.frameUrl.replace("999999999", f.instance).replace("/1.png", "/" + f.frame + ".png");
    if (view.wc !== null && view.ww !== null) url += "?wc=" + encodeURIComponent(view.wc) + "&ww=" + encodeURIComponent(view.ww);
    return url;
  }
  function render() {
    const s = series[view.s];
    if (!s || !s.frames.length) return;
    view.index = Math.max(0, Math.min(s.frames.length - 1, view.index));
    select.value = String(view.s);
    slider.max = s.frames.length;
    slider.value = view.index + 1;
    position.textContent = (view.index + 1) + " / " + s.frames.length;
    viewerLabel.textContent = labels.image + " " + (view.index + 1) + "/" + s.frames.length
      + (view.ww !== null ? " · " + labels.window + " C " + view.wc + " W " + view.ww : "")
      + " · " + calibrationText(currentFrame());
    viewerEl.dataset.unit = spacingOf[currentFrame().instance] ? "mm" : "px";
    viewerEl.dataset.series = s.series;
    viewerEl.dataset.index = view.index + 1;
    viewerEl.dataset.window = view.ww !== null ? view.wc + "," + view.ww : "";
    img.src = frameUrl(currentFrame());
  }
  function share() {
    const s = series[view.s];
    if (!s) return;
    send({ type: "viewer", state: { study: s.study, series: s.series, index: view.index, wc: view.wc, ww: view.ww } });
  }
  function applyRemote(st) {
    if (!st) return;
    const i = series.findIndex((s) => s.series === st.series);
    if (i < 0) return;
    view.s = i; view.index = st.index || 0; view.wc = st.wc; view.ww = st.ww;
    render();
  }
  select.addEventListener("change", () => { view.s = Number(select.value); view.index = 0; render(); share(); });
  slider.addEventListener("input", () => { view.index = Number(slider.value) - 1; render(); share(); });
  viewerEl.addEventListener("wheel", (e) => { e.preventDefault(); view.index += e.deltaY > 0 ? 1 : -1; render(); share(); }, { passive: false });
  document.querySelectorAll("[data-ww]").forEach((b) => b.addEventListener("click", () => {
    view.wc = b.dataset.wc === "" ? null : Number(b.dataset.wc);
    view.ww = b.dataset.ww === "" ? null : Number(b.dataset.ww);
    render(); share();
  }));

  // Distances: in mm when the image's pixel spacing is known ([row, column] mm; x runs along a row,
  // so it scales with the column spacing), else in image pixels, labelled as such. Imager Pixel
  // Spacing is at the detector, not in the patient: flagged as approximate.
  const spacingOf = {};
  for (const s of series) for (const f of s.frames) spacingOf[f.instance] = f.spacing ? { spacing: f.spacing, source: f.spacing_source } : null;
  function measure(a) {
    const [[x0, y0], [x1, y1]] = a.points;
    const known = spacingOf[a.instance];
    if (!known) return { length: Math.round(Math.hypot(x1 - x0, y1 - y0) * 10) / 10, unit: "px" };
    const [row, column] = known.spacing;
    return { length: Math.round(Math.hypot((x1 - x0) * column, (y1 - y0) * row) * 100) / 100, unit: "mm", spacing: known.source };
  }
  function lengthText(a) {
    if (a.unit === "mm") return a.length + " " + labels.mm + (a.spacing === "imager" ? " " + labels.detector : "");
    return a.length + " " + labels.px + " " + labels.uncalibrated;
  }
  function calibrationText(f) {
    const known = f && spacingOf[f.instance];
    if (!known) return labels.uncalibrated;
    return known.spacing[1] + " × " + known.spacing[0] + " " + labels.mm + "/" + labels.px + (known.source === "imager" ? " " + labels.detector : "");
  }

  // Annotations: coordinates in image pixels (the displayed image is scaled with object-fit: contain).
  function imageBox() {
    const w = img.clientWidth, h = img.clientHeight, nw = img.naturalWidth || 1, nh = img.naturalHeight || 1;
    const scale = Math.min(w / nw, h / nh);
    return { scale, x: (w - nw * scale) / 2, y: (h - nh * scale) / 2 };
  }
  function drawAnnotations() {
    const box = imageBox();
    canvas.width = img.clientWidth; canvas.height = img.clientHeight;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#00e5ff"; ctx.fillStyle = "#00e5ff"; ctx.lineWidth = 2; ctx.font = "14px sans-serif";
    const f = currentFrame();
    for (const a of annotations) {
      if (!f || a.instance !== f.instance || a.frame !== f.frame) continue;
      const p = a.points.map(([x, y]) => [box.x + x * box.scale, box.y + y * box.scale]);
      ctx.beginPath(); ctx.moveTo(p[0][0], p[0][1]);
      if (p[1]) ctx.lineTo(p[1][0], p[1][1]);
      ctx.stroke();
      const label = a.kind === "distance" ? lengthText(a) : (a.text || "");
      ctx.fillText(label, (p[1] || p[0])[0] + 4, (p[1] || p[0])[1] - 4);
    }
    annotationList.replaceChildren(...annotations.map((a) => {
      const li = document.createElement("li");
      li.textContent = (labels[a.kind] || a.kind) + " · " + labels.image + " " + a.frame
        + (a.kind === "distance" ? " · " + lengthText(a) : "") + (a.text ? " · " + a.text : "");
      return li;
    }));
    // The server measures again from the points and the stored spacing, and saves the unit.
    if (annotationField) annotationField.value = JSON.stringify(annotations.map(({ length, unit, spacing, length_px, ...rest }) => rest));
    try { sessionStorage.setItem(storageKey, JSON.stringify(annotations)); } catch (e) { /* storage off */ }
  }
  img.addEventListener("load", drawAnnotations);
  window.addEventListener("resize", drawAnnotations);
  let tool = null, pending = null;
  for (const name of ["distance", "arrow", "text"]) {
    const button = document.getElementById("tool-" + name);
    if (button) button.addEventListener("click", () => { tool = tool === name ? null : name; pending = null; document.querySelectorAll("[id^=tool-]").forEach((b) => b.classList.toggle("active", b.id === "tool-" + tool)); });
  }
  canvas.addEventListener("click", (e) => {
    const f = currentFrame();
    if (!tool || !f) return;
    const box = imageBox();
    const rect = canvas.getBoundingClientRect();
    const x = (e.clientX - rect.left - box.x) / box.scale, y = (e.clientY - rect.top - box.y) / box.scale;
    if (x < 0 || y < 0 || x > img.naturalWidth || y > img.naturalHeight) return;
    const point = [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
    if (tool === "text") {
      const text = window.prompt(labels.prompt) || "";
      if (text.trim()) annotations.push({ kind: "text", instance: f.instance, frame: f.frame, points: [point], text: text.trim().slice(0, 200) });
    } else if (!pending) {
      pending = point;
      return;
    } else {
      const a = { kind: tool, instance: f.instance, frame: f.frame, points: [pending, point] };
      if (tool === "distance") Object.assign(a, measure(a));
      annotations.push(a);
      pending = null;
    }
    drawAnnotations();
  });
  document.querySelectorAll("[id^=tool-]").length || (canvas.style.pointerEvents = "none");
  annotations.forEach((a) => { if (a.kind === "distance") Object.assign(a, measure(a)); });
  render();

  // --- The websocket -------------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + config.websocket + "?token=" + encodeURIComponent(config.token));
    socket.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type === "welcome") {
        setState(labels.waiting, "waiting");
        (m.chat || []).forEach(showChat);
        if (m.viewer) applyRemote(m.viewer); else share();
      } else if (m.type === "peer") {
        if (m.joined) queue(makeOffer);
        else { if (pc) { pc.close(); pc = null; } remoteVideo.srcObject = null; setState(labels.waiting, "waiting"); }
      } else if (m.type === "signal") {
        queue(() => onSignal(m.data));
      } else if (m.type === "chat") {
        showChat(m);
      } else if (m.type === "viewer") {
        applyRemote(m.state);
      }
    };
    socket.onclose = (event) => {
      if (event.code === 4403) { setState(labels.closed, "closed"); return; }
      setTimeout(connect, 2000); // a restarting server: come back
    };
  }
  connect();
  document.getElementById("toggle-audio").addEventListener("click", () => localStream && localStream.getAudioTracks().forEach((t) => { t.enabled = !t.enabled; }));
  document.getElementById("toggle-video").addEventListener("click", () => localStream && localStream.getVideoTracks().forEach((t) => { t.enabled = !t.enabled; }));
  window.addEventListener("beforeunload", () => { if (socket) socket.close(); if (pc) pc.close(); });
})();
