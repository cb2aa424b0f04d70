// fanren_tts studio, api.js: the key, calls to the server, engines, voices and health. The page
// (api.js, formats.js, voices.js, studio.js: classic scripts sharing their top-level names) uses only the server's API:
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
