// fanren_tts studio, voices.js: making a named voice from an upload or a recording.
"use strict";

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
