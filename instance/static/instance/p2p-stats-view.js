// The live statistics under the video (#p2p-stats): its data-* attributes hold the raw numbers
// (bytes, counts) for scripts and tests, the text the same numbers for people.

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

// `stats`: {p2p, peers, fromPeers, fromServer, uploaded, rejected, progress}, from an engine.
export function showStats(element, stats) {
  const values = {
    peers: stats.peers,
    "bytes-p2p": stats.fromPeers,
    "bytes-http": stats.fromServer,
    "bytes-up": stats.uploaded,
    rejected: stats.rejected,
  };
  const mode = stats.p2p ? "p2p" : "http";
  element.dataset.mode = mode;
  element.dataset.progress = String(stats.progress);
  element.querySelector('[data-stat="mode"]').textContent = mode === "p2p" ? "P2P" : "HTTP";
  for (const [name, value] of Object.entries(values)) {
    element.setAttribute(`data-${name}`, String(value));
    const text = name === "peers" || name === "rejected" ? String(value) : formatBytes(value);
    element.querySelector(`[data-stat="${name}"]`).textContent = text;
  }
  element.querySelector('[data-stat="peers-word"]').textContent = stats.peers === 1 ? "peer" : "peers";
  // Shown once a part from a peer failed its check: rare, and worth telling when it happens.
  element.querySelector('[data-stat-box="rejected"]').hidden = stats.rejected === 0;
}
