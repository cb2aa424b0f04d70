// fanren_tts studio: plain JavaScript, no build step, no CDN. It talks to the server's own API:
// GET /v1/models, /v1/voices, /health; POST /v1/text/preview, /v1/audio/speech/captioned, /v1/voices;
// the WebSocket /v1/audio/speech/ws (PCM chunks with word timings, played as they arrive).
"use strict";

const $ = (sel) => document.querySelector(sel);
const KEY = "fanren-key"; // sessionStorage only: gone when the tab closes
const state = { ctx: null, rows: [], engines: [], voices: [], recorded: null, recorder: null };

// ------------------------------------------------------------------ the API

function apiKey() {
  return sessionStorage.getItem(KEY) || "";
}

function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: "Bearer " + key } : headers;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: withKey(options.headers || {}) });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) {
      // not JSON: keep the status line
    }
    if (res.status === 401) notice("The server wants an API key: enter it at the top right.");
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}

async function postJSON(path, body) {
  const res = await api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json();
}

function notice(message) {
  const box = $("#notice");
  box.textContent = message || "";
  box.hidden = !message;
}

function hex(text) {
  return Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------------ engines, voices, health

async function loadModels() {
  const body = await (await api("/v1/models")).json();
  state.engines = body.data.filter((m) => m.type !== "alias").map((m) => m.id);
  for (const select of [$("#engine"), $("#voice-engine")]) {
    const keep = select.value;
    for (const opt of Array.from(select.options)) if (opt.value) opt.remove();
    for (const id of state.engines) select.add(new Option(id, id));
    if (state.engines.includes(keep)) select.value = keep;
  }
}

async function loadVoices() {
  const body = await (await api("/v1/voices")).json();
  state.voices = body.data;
  fillVoices();
  const list = $("#voice-list");
  list.replaceChildren();
  for (const v of state.voices) {
    const li = document.createElement("li");
    li.dataset.voice = v.name;
    li.textContent = `${v.name} (${v.engine}${v.transcript ? ": “" + v.transcript + "”" : ""}) `;
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "remove";
    del.addEventListener("click", async () => {
      try {
        await api("/v1/voices/" + encodeURIComponent(v.name), { method: "DELETE" });
        await loadVoices();
      } catch (err) {
        notice(err.message);
      }
    });
    li.append(del);
    list.append(li);
  }
}

function fillVoices() {
  const select = $("#voice");
  const keep = select.value;
  const engine = $("#engine").value;
  select.replaceChildren(new Option("default", "default"));
  for (const v of state.voices) if (!engine || v.engine === engine) select.add(new Option(v.name, v.name));
  if (Array.from(select.options).some((o) => o.value === keep)) select.value = keep;
}

async function pollHealth() {
  const box = $("#health");
  try {
    const res = await fetch("/health"); // open without the key
    const body = await res.json();
    box.replaceChildren();
    for (const [name, e] of Object.entries(body.engines || {})) {
      const tag = document.createElement("span");
      tag.className = "badge " + e.state;
      const q = e.queue || {};
      tag.textContent = `${name}: ${e.state} · ${q.running || 0} running, ${q.waiting || 0} waiting · ETA ${Number(q.eta_s || 0).toFixed(1)} s`;
      if (e.reason) tag.title = e.reason;
      box.append(tag);
    }
  } catch (err) {
    box.textContent = "server unreachable";
  }
}

// ------------------------------------------------------------------ rows

function settings() {
  return { voice: $("#voice").value || "default", speed: Number($("#speed").value) || 1 };
}

function rowKey(row) {
  const s = settings();
  return JSON.stringify([row.engine, row.text, s.voice, s.speed, row.seed]);
}

// What a request for this row sends: the same for playing and for downloads, so a download
// is the take that was heard (a re-take's seed included).
function speechBody(row) {
  const s = settings();
  const body = { model: row.engine, input: row.text, voice: s.voice, speed: s.speed };
  if (row.seed !== undefined) body.extra = { seed: row.seed };
  return body;
}

async function makeRows() {
  const text = $("#script").value;
  if (!text.trim()) {
    notice("Type a line first.");
    return;
  }
  notice("");
  let body;
  try {
    body = await postJSON("/v1/text/preview", { input: text, model: $("#engine").value || null });
  } catch (err) {
    notice(err.message);
    return;
  }
  const old = new Map(state.rows.map((r) => [r.engine + "\n" + r.text, r]));
  state.rows = body.data.map((line) => {
    const kept = old.get(line.engine + "\n" + line.text); // same line, same engine: keep its audio
    return {
      index: line.line,
      text: line.text,
      engine: line.engine,
      spoken: line.segments.map((s) => s.spoken).join(" "),
      audio: kept ? kept.audio : null,
      captioned: kept ? kept.captioned : null,
      seed: kept ? kept.seed : undefined,
    };
  });
  renderRows();
}

function renderRows() {
  const body = $("#rows tbody");
  body.replaceChildren();
  for (const row of state.rows) {
    const tr = document.createElement("tr");
    tr.dataset.row = row.index;
    const cells = ["index", "line", "engine", "spoken", "status", "buttons"].map((name) => {
      const td = document.createElement("td");
      td.className = name;
      tr.append(td);
      return td;
    });
    cells[0].textContent = String(row.index + 1);
    cells[2].textContent = row.engine;
    cells[3].textContent = row.spoken;
    row.el = tr;
    renderWords(row);
    for (const [label, action] of [
      ["Play", () => playRow(row, false)],
      ["Re-take", () => playRow(row, true)],
      ["WAV", () => downloadRow(row, "wav")],
      ["SRT", () => downloadRow(row, "srt")],
      ["VTT", () => downloadRow(row, "vtt")],
      ["ASS", () => downloadRow(row, "ass")],
    ]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.action = label.toLowerCase();
      b.addEventListener("click", () => action().catch((err) => setStatus(row, err.message, "error")));
      cells[5].append(b);
    }
    setStatus(row, row.audio ? `ready · ${row.audio.duration.toFixed(2)} s` : "not made yet");
    body.append(tr);
  }
  const none = state.rows.length === 0;
  $("#play-all").disabled = none;
  for (const b of document.querySelectorAll("[data-all]")) b.disabled = none;
}

function setStatus(row, text, kind = "") {
  const cell = row.el && row.el.querySelector(".status");
  if (!cell) return;
  cell.textContent = text;
  cell.className = "status " + kind;
}

// The line, with each timed word as a span (the text between words kept as written).
function renderWords(row) {
  const cell = row.el.querySelector(".line");
  cell.replaceChildren();
  const words = row.audio ? row.audio.words : [];
  if (!words.length) {
    cell.textContent = row.text;
    return;
  }
  let at = 0;
  words.forEach((w, i) => {
    const found = row.text.indexOf(w.text, at);
    if (found > at) cell.append(row.text.slice(at, found));
    else if (found < 0 && i > 0) cell.append(" ");
    const span = document.createElement("span");
    span.className = "word";
    span.dataset.i = i;
    span.dataset.start = w.start;
    span.dataset.end = w.end;
    span.textContent = w.text;
    cell.append(span);
    if (found >= 0) at = found + w.text.length;
  });
  if (at < row.text.length && at > 0) cell.append(row.text.slice(at));
}

// ------------------------------------------------------------------ playing

function audioContext() {
  if (!state.ctx) state.ctx = new AudioContext();
  if (state.ctx.state === "suspended") state.ctx.resume();
  return state.ctx;
}

function pcmToBuffer(ctx, head, bytes) {
  const channels = head.channels;
  const width = head.bit_depth / 8;
  const frames = Math.floor(bytes.byteLength / (width * channels));
  const buffer = ctx.createBuffer(channels, Math.max(frames, 1), head.sample_rate);
  const view = new DataView(bytes);
  for (let c = 0; c < channels; c++) {
    const out = buffer.getChannelData(c);
    for (let f = 0; f < frames; f++) {
      const at = (f * channels + c) * width;
      if (width === 2) out[f] = view.getInt16(at, true) / 32768;
      else {
        const v = view.getUint8(at) | (view.getUint8(at + 1) << 8) | (view.getInt8(at + 2) << 16);
        out[f] = v / 8388608;
      }
    }
  }
  return buffer;
}

// One line over the WebSocket: every chunk is scheduled as it arrives, its words shown.
function stream(row) {
  return new Promise((resolve, reject) => {
    const ctx = audioContext();
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/audio/speech/ws";
    const protocols = ["fanren"];
    if (apiKey()) protocols.push("fanren.bearer." + hex(apiKey()));
    const ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    const audio = { chunks: [], words: [], duration: 0, bytes: 0, key: rowKey(row), t0: null };
    let head = null;
    let finished = false;
    ws.onopen = () => {
      ws.send(JSON.stringify(speechBody(row)));
      setStatus(row, "sent", "busy");
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        if (!head) return;
        const buffer = pcmToBuffer(ctx, head, ev.data);
        if (audio.t0 === null) {
          audio.t0 = ctx.currentTime + 0.1;
          row.audio = audio;
          follow(row);
        }
        audio.bytes += ev.data.byteLength;
        audio.chunks.push({ start: head.start, buffer });
        schedule(ctx, buffer, audio.t0 + head.start);
        row.el.dataset.bytes = audio.bytes;
        return;
      }
      const msg = JSON.parse(ev.data);
      if (msg.type === "queued") {
        setStatus(row, `queued · position ${msg.position} · ETA ${Number(msg.eta).toFixed(1)} s`, "busy");
      } else if (msg.type === "chunk") {
        head = msg;
        audio.words.push(...msg.words);
        audio.duration = Math.max(audio.duration, msg.start + msg.bytes / (msg.sample_rate * msg.channels * (msg.bit_depth / 8)));
        row.audio = audio;
        renderWords(row);
        setStatus(row, `playing · ${audio.duration.toFixed(2)} s so far`, "busy");
      } else if (msg.type === "done") {
        finished = true;
        audio.duration = msg.duration;
        row.el.dataset.done = "1";
        setStatus(row, `made · ${msg.duration.toFixed(2)} s · ${audio.words.length} words`, "ok");
        ws.close();
        resolve(audio);
      } else if (msg.type === "error") {
        finished = true;
        ws.close();
        reject(new Error(msg.error ? msg.error.message : "the server refused the line"));
      }
    };
    ws.onclose = (ev) => {
      if (!finished) {
        const why = ev.code === 1008 ? "missing or wrong API key" : `connection closed (${ev.code}) ${ev.reason || ""}`;
        reject(new Error(why));
      }
    };
  });
}

function schedule(ctx, buffer, when) {
  const src = ctx.createBufferSource();
  src.buffer = buffer;
  src.connect(ctx.destination);
  src.start(Math.max(when, ctx.currentTime));
}

// Words light up from the AudioContext's clock, so they follow the audio actually playing.
function follow(row) {
  const ctx = state.ctx;
  const audio = row.audio;
  const tick = () => {
    if (row.audio !== audio) return;
    const t = ctx.currentTime - audio.t0;
    const spans = row.el.querySelectorAll(".word");
    for (const span of spans) {
      const start = Number(span.dataset.start);
      const end = Number(span.dataset.end);
      span.classList.toggle("current", t >= start && t < end);
      span.classList.toggle("spoken", t >= end);
    }
    if (t <= audio.duration + 0.2 || !row.el.dataset.done) requestAnimationFrame(tick);
    else for (const span of spans) span.classList.remove("current");
  };
  requestAnimationFrame(tick);
}

// A line already made with the same engine, voice and speed is played from the page's copy
// (no request); Re-take always asks the server again, and only for this line.
async function playRow(row, retake) {
  notice("");
  if (!retake && row.audio && row.audio.key === rowKey(row) && row.el.dataset.done) {
    const ctx = audioContext();
    const audio = { ...row.audio, t0: ctx.currentTime + 0.1 };
    for (const c of audio.chunks) schedule(ctx, c.buffer, audio.t0 + c.start);
    row.audio = audio;
    renderWords(row);
    follow(row);
    setStatus(row, `playing (kept) · ${audio.duration.toFixed(2)} s`, "ok");
    return audio;
  }
  delete row.el.dataset.done;
  row.captioned = null;
  if (retake && $("#vary-seed").checked) row.seed = Math.floor(Math.random() * 2 ** 31);
  try {
    return await stream(row);
  } catch (err) {
    setStatus(row, err.message, "error");
    throw err;
  }
}

async function playAll() {
  for (const row of state.rows) {
    try {
      const audio = await playRow(row, false);
      await new Promise((r) => setTimeout(r, Math.max(0, (audio.t0 + audio.duration - state.ctx.currentTime) * 1000)));
    } catch (_) {
      // the row shows its error; go on with the next
    }
  }
}

// ------------------------------------------------------------------ downloads

function b64bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function captioned(row) {
  if (row.captioned && row.captioned.key === rowKey(row)) return row.captioned;
  const body = await postJSON("/v1/audio/speech/captioned", {
    ...speechBody(row),
    response_format: "wav",
    subtitle_format: "srt",
  });
  row.captioned = { ...body, key: rowKey(row), wav: parseWav(b64bytes(body.audio)), cues: parseSrt(body.subtitles) };
  return row.captioned;
}

function parseWav(bytes) {
  const view = new DataView(bytes.buffer);
  let at = 12;
  let fmt = null;
  while (at + 8 <= bytes.length) {
    const id = String.fromCharCode(...bytes.slice(at, at + 4));
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") fmt = { channels: view.getUint16(at + 10, true), rate: view.getUint32(at + 12, true), bits: view.getUint16(at + 22, true) };
    if (id === "data") return { ...fmt, pcm: bytes.slice(at + 8, at + 8 + size) };
    at += 8 + size + (size % 2);
  }
  throw new Error("the server's WAV has no data chunk");
}

function wavFile(fmt, pcm) {
  const head = new DataView(new ArrayBuffer(44));
  const text = (at, s) => [...s].forEach((c, i) => head.setUint8(at + i, c.charCodeAt(0)));
  const block = fmt.channels * (fmt.bits / 8);
  text(0, "RIFF");
  head.setUint32(4, 36 + pcm.length, true);
  text(8, "WAVEfmt ");
  head.setUint32(16, 16, true);
  head.setUint16(20, 1, true);
  head.setUint16(22, fmt.channels, true);
  head.setUint32(24, fmt.rate, true);
  head.setUint32(28, fmt.rate * block, true);
  head.setUint16(32, block, true);
  head.setUint16(34, fmt.bits, true);
  text(36, "data");
  head.setUint32(40, pcm.length, true);
  return new Blob([head.buffer, pcm], { type: "audio/wav" });
}

function parseSrt(text) {
  const time = (s) => {
    const [h, m, rest] = s.trim().split(":");
    const [sec, ms] = rest.split(/[,.]/);
    return Number(h) * 3600 + Number(m) * 60 + Number(sec) + Number(ms) / 1000;
  };
  const cues = [];
  for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
    const lines = block.trim().split("\n");
    const arrow = lines.findIndex((l) => l.includes("-->"));
    if (arrow < 0) continue;
    const [a, b] = lines[arrow].split("-->");
    cues.push({ start: time(a), end: time(b), text: lines.slice(arrow + 1).join("\n") });
  }
  return cues;
}

function stamp(t, sep, hourDigits = 2, fraction = 3) {
  const ms = Math.round(t * 1000);
  const h = Math.floor(ms / 3600000);
  const m = Math.floor(ms / 60000) % 60;
  const s = Math.floor(ms / 1000) % 60;
  const frac = fraction === 3 ? String(ms % 1000).padStart(3, "0") : String(Math.floor((ms % 1000) / 10)).padStart(2, "0");
  return `${String(h).padStart(hourDigits, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}${sep}${frac}`;
}

function subtitles(cues, format) {
  if (format === "srt") return cues.map((c, i) => `${i + 1}\n${stamp(c.start, ",")} --> ${stamp(c.end, ",")}\n${c.text}\n`).join("\n");
  if (format === "vtt") return "WEBVTT\n\n" + cues.map((c) => `${stamp(c.start, ".")} --> ${stamp(c.end, ".")}\n${c.text}\n`).join("\n");
  const events = cues.map((c) => `Dialogue: 0,${stamp(c.start, ".", 1, 2)},${stamp(c.end, ".", 1, 2)},Default,,0,0,0,,${c.text.replace(/\n/g, "\\N")}`);
  return [
    "[Script Info]",
    "ScriptType: v4.00+",
    "PlayResX: 1280",
    "PlayResY: 720",
    "",
    "[V4+ Styles]",
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
    "Style: Default,Arial,48,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,2,1,2,40,40,40,1",
    "",
    "[Events]",
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ...events,
    "",
  ].join("\n");
}

function save(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function downloadRow(row, format) {
  setStatus(row, "preparing " + format.toUpperCase() + " …", "busy");
  const c = await captioned(row);
  const name = `line-${row.index + 1}`;
  if (format === "wav") save(wavFile(c.wav, c.wav.pcm), name + ".wav");
  else save(new Blob([subtitles(c.cues, format)], { type: "text/plain" }), `${name}.${format}`);
  setStatus(row, `saved ${name}.${format}`, "ok");
}

// The whole script: every line's take (kept by the server's cache), end to end with a short pause.
async function downloadAll(format) {
  const GAP = 0.4;
  const parts = [];
  for (const row of state.rows) parts.push(await captioned(row));
  const fmt = parts[0].wav;
  if (parts.some((p) => p.wav.rate !== fmt.rate || p.wav.channels !== fmt.channels || p.wav.bits !== fmt.bits)) {
    throw new Error("the lines come from engines with different sample rates: download them one by one");
  }
  const gap = new Uint8Array(Math.round(GAP * fmt.rate) * fmt.channels * (fmt.bits / 8));
  const pcm = [];
  const cues = [];
  let t = 0;
  parts.forEach((p, i) => {
    if (i) {
      pcm.push(gap);
      t += GAP;
    }
    pcm.push(p.wav.pcm);
    for (const c of p.cues) cues.push({ ...c, start: c.start + t, end: c.end + t });
    t += p.wav.pcm.length / (fmt.rate * fmt.channels * (fmt.bits / 8));
  });
  if (format === "wav") {
    const all = new Uint8Array(pcm.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of pcm) {
      all.set(b, at);
      at += b.length;
    }
    save(wavFile(fmt, all), "script.wav");
  } else save(new Blob([subtitles(cues, format)], { type: "text/plain" }), `script.${format}`);
}

// ------------------------------------------------------------------ voices

function wavFromBuffer(buffer) {
  const data = buffer.getChannelData(0);
  const pcm = new Uint8Array(data.length * 2);
  const view = new DataView(pcm.buffer);
  for (let i = 0; i < data.length; i++) view.setInt16(i * 2, Math.max(-1, Math.min(1, data[i])) * 32767, true);
  return wavFile({ channels: 1, rate: buffer.sampleRate, bits: 16 }, pcm);
}

async function toggleRecord() {
  const label = $("#rec-state");
  if (state.recorder) {
    state.recorder.stop();
    return;
  }
  try {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(media);
    const parts = [];
    recorder.ondataavailable = (ev) => parts.push(ev.data);
    recorder.onstop = async () => {
      media.getTracks().forEach((t) => t.stop());
      state.recorder = null;
      $("#record").textContent = "Record";
      try {
        const raw = await new Blob(parts).arrayBuffer();
        const decoded = await audioContext().decodeAudioData(raw); // the browser's codec, then WAV for the server
        state.recorded = wavFromBuffer(decoded);
        label.textContent = `recorded ${decoded.duration.toFixed(1)} s (used instead of a file)`;
      } catch (err) {
        label.textContent = "could not read the recording: " + err.message;
      }
    };
    recorder.start();
    state.recorder = recorder;
    $("#record").textContent = "Stop";
    label.textContent = "recording…";
  } catch (err) {
    label.textContent = "no microphone: " + err.message;
  }
}

async function saveVoice(ev) {
  ev.preventDefault();
  const status = $("#voice-status");
  const form = new FormData();
  form.append("name", $("#voice-name").value.trim());
  form.append("engine", $("#voice-engine").value);
  const file = $("#voice-file").files[0];
  if (state.recorded) form.append("audio", state.recorded, "recording.wav");
  else if (file) form.append("audio", file, file.name);
  const speaker = $("#voice-speaker").value.trim();
  if (speaker) form.append("speaker", speaker);
  const transcript = $("#voice-transcript").value.trim();
  if (transcript) form.append("transcript", transcript);
  status.className = "busy";
  status.textContent = "checking…";
  try {
    const voice = await (await api("/v1/voices", { method: "POST", body: form })).json();
    status.className = "ok";
    status.textContent = `saved voice “${voice.name}” for ${voice.engine}`;
    state.recorded = null;
    $("#rec-state").textContent = "";
    await loadVoices();
  } catch (err) {
    status.className = "error";
    status.textContent = "refused: " + err.message;
  }
}

// ------------------------------------------------------------------ start

async function refresh() {
  try {
    await loadModels();
    await loadVoices();
    notice("");
  } catch (err) {
    notice(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const key = $("#key");
  key.value = apiKey();
  key.addEventListener("change", () => {
    if (key.value) sessionStorage.setItem(KEY, key.value);
    else sessionStorage.removeItem(KEY);
    refresh();
  });
  $("#engine").addEventListener("change", () => {
    fillVoices();
    if (state.rows.length) makeRows();
  });
  $("#load").addEventListener("click", makeRows);
  $("#play-all").addEventListener("click", playAll);
  for (const b of document.querySelectorAll("[data-all]")) {
    b.addEventListener("click", () => downloadAll(b.dataset.all).catch((err) => notice(err.message)));
  }
  $("#record").addEventListener("click", toggleRecord);
  $("#voice-form").addEventListener("submit", saveVoice);
  refresh();
  pollHealth();
  setInterval(pollHealth, 3000);
});
