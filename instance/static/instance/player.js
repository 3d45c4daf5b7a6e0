// The watch and embed pages' player: P2P (webtorrent) or plain HTTP, the privacy notice, the
// viewer's choice and the live statistics. Configured by the page (instance/player.py).
//
// P2P runs only when the instance and the video allow it, the view has no ?p2p=0, the viewer
// has not turned it off, and (if the instance says so) the viewer accepted the notice.
// Otherwise the <video> plays the webseed file over HTTP and webtorrent is never loaded.

import { P2PStream } from "./p2p-stream.js";

const config = JSON.parse(document.getElementById("player-config").textContent);
const video = document.getElementById("player");
const notice = document.getElementById("p2p-notice");
const toggle = document.getElementById("p2p-toggle");
const statusLine = document.getElementById("p2p-status");
const stats = document.getElementById("p2p-stats");

// Kept in the browser for every video of the instance.
const CHOICE_KEY = "peerveil.p2p"; // "on" | "off"
const NOTICE_KEY = "peerveil.p2pNotice"; // "accepted"
// Without metadata by then, the video starts from the server while the torrent keeps trying.
const P2P_START_TIMEOUT_MS = 8000;
// The issue asks for at least one update a second.
const STATS_INTERVAL_MS = 500;

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage blocked (e.g. some third-party iframes): nothing remembered
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // The choice then holds for this view only.
  }
}

let offForThisView = config.p2pOffForThisView;
let stream = null; // the running P2PStream
let streamsBefore = { fromPeers: 0, fromServer: 0, uploaded: 0 }; // totals of stopped streams
let httpPlaybackBytes = 0; // estimated: see estimateHttpBytes()

// What applies now: {p2p: true} or {p2p: false, reason, ask}.
function decide() {
  if (!config.p2pAllowed) {
    return { p2p: false, reason: "P2P is off for this video: it plays from the server only." };
  }
  if (offForThisView) return { p2p: false, reason: "P2P is off for this view." };
  if (stored(CHOICE_KEY) === "off") {
    return { p2p: false, reason: "You turned P2P off: the video plays from the server only." };
  }
  if (config.p2pRequiresConsent && stored(NOTICE_KEY) !== "accepted") {
    return { p2p: false, reason: "Playing from the server until you choose.", ask: true };
  }
  return { p2p: true };
}

function apply() {
  const decision = decide();
  // Without required consent, P2P starts at once and the notice only informs, until read.
  const informing = decision.p2p && stored(NOTICE_KEY) !== "accepted";
  notice.hidden = !(decision.ask || informing);
  toggle.hidden = !config.p2pAllowed || Boolean(decision.ask);
  toggle.textContent = decision.p2p ? "Turn P2P off" : "Turn P2P on";
  if (decision.p2p) {
    playOverP2P();
  } else {
    playOverHttp(decision.reason);
  }
}

function setSource(url) {
  const absolute = new URL(url, location.href).href;
  if (video.currentSrc === absolute || video.src === absolute) return;
  const resumeAt = video.currentTime;
  const wasPlaying = !video.paused && !video.ended;
  const first = !video.src;
  video.src = url;
  if (!first) {
    // The autoplay attribute plays the first source; later a switch keeps the viewer's pause.
    video.autoplay = false;
    video.addEventListener("loadedmetadata", () => (video.currentTime = resumeAt), { once: true });
    if (wasPlaying) video.play().catch(() => {});
  }
}

async function stopStream() {
  if (!stream) return;
  const { fromPeers, fromServer, uploaded } = stream.stats();
  streamsBefore = {
    fromPeers: streamsBefore.fromPeers + fromPeers,
    fromServer: streamsBefore.fromServer + fromServer,
    uploaded: streamsBefore.uploaded + uploaded,
  };
  const stopping = stream;
  stream = null;
  await stopping.stop();
}

async function playOverHttp(reason) {
  statusLine.textContent = reason;
  await stopStream();
  setSource(config.fileUrl);
}

async function playOverP2P() {
  if (stream) return;
  const current = new P2PStream(config);
  stream = current;
  statusLine.textContent = "P2P: connecting…";
  const startFromServer = setTimeout(() => {
    if (!video.src) setSource(config.fileUrl);
  }, P2P_START_TIMEOUT_MS);
  try {
    const file = await current.start();
    if (stream !== current) return;
    if (current.canStream) {
      setSource(file.streamURL);
      statusLine.textContent = "P2P on: this video comes from other viewers and the server.";
    } else {
      setSource(config.fileUrl);
      statusLine.textContent = "P2P shares the video, which plays from the server here.";
    }
  } catch (error) {
    if (stream !== current) return;
    console.warn("P2P could not start:", error);
    statusLine.textContent = "P2P could not start: the video plays from the server.";
    setSource(config.fileUrl);
  } finally {
    clearTimeout(startFromServer);
  }
}

// Bytes of plain HTTP playback, which the page cannot count: the buffered share of the file.
// An estimate (re-fetched or skipped ranges are missed); the largest value seen is kept.
function estimateHttpBytes() {
  const playingFile = video.currentSrc === new URL(config.fileUrl, location.href).href;
  if (!playingFile || !(video.duration > 0)) return;
  let seconds = 0;
  for (let i = 0; i < video.buffered.length; i++) {
    seconds += video.buffered.end(i) - video.buffered.start(i);
  }
  const bytes = Math.round(Math.min(1, seconds / video.duration) * config.fileSize);
  httpPlaybackBytes = Math.max(httpPlaybackBytes, bytes);
}

function formatBytes(bytes) {
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

function showStats() {
  estimateHttpBytes();
  const live = stream ? stream.stats() : { peers: 0, fromPeers: 0, fromServer: 0, uploaded: 0 };
  const values = {
    peers: live.peers,
    "bytes-p2p": streamsBefore.fromPeers + live.fromPeers,
    "bytes-http": streamsBefore.fromServer + live.fromServer + httpPlaybackBytes,
    "bytes-up": streamsBefore.uploaded + live.uploaded,
  };
  const mode = stream ? "p2p" : "http";
  stats.dataset.mode = mode;
  stats.dataset.progress = String(stream ? live.progress : 0);
  stats.querySelector('[data-stat="mode"]').textContent = mode === "p2p" ? "P2P" : "HTTP";
  for (const [name, value] of Object.entries(values)) {
    stats.setAttribute(`data-${name}`, String(value));
    const text = name === "peers" ? String(value) : formatBytes(value);
    stats.querySelector(`[data-stat="${name}"]`).textContent = text;
  }
  stats.querySelector('[data-stat="peers-word"]').textContent = values.peers === 1 ? "peer" : "peers";
}

document.getElementById("p2p-accept").addEventListener("click", () => {
  store(NOTICE_KEY, "accepted");
  store(CHOICE_KEY, "on");
  apply();
});

document.getElementById("p2p-decline").addEventListener("click", () => {
  store(CHOICE_KEY, "off");
  apply();
});

toggle.addEventListener("click", () => {
  const turningOn = !stream;
  store(CHOICE_KEY, turningOn ? "on" : "off");
  offForThisView = false;
  apply();
});

setInterval(showStats, STATS_INTERVAL_MS);
apply();
showStats();
