// fanren_tts studio, formats.js: WAV and subtitle files (SRT, VTT, ASS) made in the page, and saving them.
"use strict";

function b64bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
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
