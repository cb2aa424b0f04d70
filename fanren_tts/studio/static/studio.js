// fanren_tts studio, studio.js: the script as rows, playing them as they stream, downloads, and the start.
"use strict";

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

// The row's take as one JSON (audio, words, SRT), from the server's cache when it has made it.
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
