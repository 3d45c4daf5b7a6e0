// The crowd threshold line of the watch and embed pages: "P2P starts when N people watch this
// video (now: M)". The page renders it; this refreshes M from the instance (counts only) so the
// viewer sees the moment P2P turns on. Independent of the player script.

const config = JSON.parse(document.getElementById("player-config").textContent);
const line = document.getElementById("p2p-crowd");
// Often enough to see the count move while a video plays, rare next to a tracker announce; the
// first refresh comes soon after the page's own player joined the swarm.
const REFRESH_MS = 15000;
const FIRST_REFRESH_MS = 3000;

function show({ threshold, viewers, reached }) {
  line.dataset.threshold = String(threshold);
  line.dataset.viewers = String(viewers);
  line.dataset.reached = String(reached);
  line.textContent = reached
    ? `P2P is on: ${viewers} people watch this video (it starts from ${threshold})`
    : `P2P starts when ${threshold} people watch this video (now: ${viewers})`;
}

async function refresh() {
  try {
    const response = await fetch(config.crowd.url, { cache: "no-store" });
    if (response.ok) show(await response.json());
  } catch {
    // Offline for a moment: the line keeps its last value.
  }
}

if (line && config.crowd) {
  setTimeout(refresh, FIRST_REFRESH_MS);
  setInterval(refresh, REFRESH_MS);
}
