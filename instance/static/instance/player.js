// The watch and embed pages' player: the privacy notice, the viewer's choice and the live
// statistics, over one of two engines with the same interface (setP2P(on), p2p, stats()):
// engine-hls.js (hls.js and p2p-media-loader) for a video with an HLS playlist, else
// engine-webtorrent.js (the MP4 over webtorrent). Configured by the page (instance/player.py).
//
// P2P runs only when the instance and the video allow it, the view has no ?p2p=0, the viewer
// has not turned it off, and (if the instance says so) the viewer accepted the notice.
// Otherwise the video plays from the server and no tracker socket is ever opened.

import { P2PChoice } from "./p2p-choice.js";
import { showStats } from "./p2p-stats-view.js";

const config = JSON.parse(document.getElementById("player-config").textContent);
const video = document.getElementById("player");
const notice = document.getElementById("p2p-notice");
const toggle = document.getElementById("p2p-toggle");
const statusLine = document.getElementById("p2p-status");
const statsElement = document.getElementById("p2p-stats");

// The issue asks for at least one update a second.
const STATS_INTERVAL_MS = 500;

const choice = new P2PChoice(config);
const setStatus = (text) => (statusLine.textContent = text);

async function createEngine() {
  if (config.hls) {
    try {
      const { HlsEngine } = await import("./engine-hls.js");
      if (HlsEngine.supported()) return new HlsEngine(config, video, setStatus);
    } catch (error) {
      console.warn("The HLS player did not load; the video plays its MP4:", error);
    }
  }
  const { WebTorrentEngine } = await import("./engine-webtorrent.js");
  return new WebTorrentEngine(config, video, setStatus);
}

// The notice and the toggle do not wait for the engine's modules (hls.js is about 600 kB).
const engine = createEngine();
let decision = null;

// A read-only handle for the browser tests, which read hls.js's levels and force each one to
// check the swarm a real player announces for every rendition. Nothing in the page uses it.
engine.then((running) =>
  Object.defineProperty(window, "peerveilPlayer", {
    value: Object.freeze({
      engine: running.constructor.name,
      get hls() {
        return running.hls ?? null;
      },
    }),
  }),
);

function apply() {
  decision = choice.decide();
  // Without required consent, P2P starts at once and the notice only informs, until read.
  const informing = decision.p2p && !choice.noticeAccepted;
  notice.hidden = !(decision.ask || informing);
  toggle.hidden = !config.p2pAllowed || Boolean(decision.ask);
  toggle.textContent = decision.p2p ? "Turn P2P off" : "Turn P2P on";
  if (!decision.p2p) setStatus(decision.reason);
  const p2p = decision.p2p;
  engine.then((running) => running.setP2P(p2p));
}

document.getElementById("p2p-accept").addEventListener("click", () => {
  choice.accept();
  apply();
});

document.getElementById("p2p-decline").addEventListener("click", () => {
  choice.decline();
  apply();
});

toggle.addEventListener("click", () => {
  choice.set(!decision.p2p);
  apply();
});

apply();
engine.then((running) => {
  const refresh = () => showStats(statsElement, running.stats());
  refresh();
  setInterval(refresh, STATS_INTERVAL_MS);
});
