// One video's torrent, streamed into a <video> by webtorrent, and where its bytes came from.
//
// Importing this module loads nothing else: webtorrent is imported by start(), so a page whose
// viewer has P2P off never fetches it and never opens a WebSocket to the tracker.
// webtorrent's file.streamTo(<video>) needs its service worker (/webtorrent-sw.js) to control the
// page before the stream starts, and a secure context (127.0.0.1, localhost or HTTPS).

// A first visit came under the worker's control within 20 ms (measured in Chromium); this only bounds
// a browser that never gives control, which then plays from the webseed URL instead.
const WORKER_TIMEOUT_MS = 5000;

function waitFor(target, eventName, isDone, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (isDone()) return resolve();
    const check = () => {
      if (!isDone()) return;
      clearTimeout(timer);
      target.removeEventListener(eventName, check);
      resolve();
    };
    const timer = setTimeout(() => {
      target.removeEventListener(eventName, check);
      reject(new Error(`no ${eventName} within ${timeoutMs} ms`));
    }, timeoutMs);
    target.addEventListener(eventName, check);
  });
}

// webtorrent's service worker, active and controlling this page. streamTo() needs it with the
// scope "/"; the instance serves it from the root for that reason.
async function controllingServiceWorker(url) {
  if (!("serviceWorker" in navigator)) throw new Error("this browser has no service workers");
  const registration = await navigator.serviceWorker.register(url, { scope: "/" });
  const worker = registration.installing || registration.waiting || registration.active;
  await waitFor(worker, "statechange", () => worker.state === "activated", WORKER_TIMEOUT_MS);
  const container = navigator.serviceWorker;
  // A page that began loading while the worker activated is left out of its claim: ask again.
  if (!container.controller) registration.active.postMessage("claim");
  await waitFor(container, "controllerchange", () => container.controller, WORKER_TIMEOUT_MS);
  return registration;
}

export class P2PStream {
  constructor(config) {
    this.config = config;
    this.client = null;
    this.torrent = null;
    this.stopped = false;
    // True once the service worker serves the torrent to the <video>; false means the torrent
    // is shared but the video plays from the webseed URL.
    this.canStream = false;
    // Bytes received, by wire type: "webrtc" (other viewers) or "webSeed" (this server).
    // Counted as they arrive: a wire that closes leaves torrent.wires and takes its counters.
    this.received = { webrtc: 0, webSeed: 0 };
    this.answerOnlyForThisTorrent = this.answerOnlyForThisTorrent.bind(this);
  }

  // Resolves with the video's file once the torrent has its metadata.
  async start() {
    const { default: WebTorrent } = await import(this.config.webtorrentUrl);
    // Never webtorrent's public default trackers: only this instance's tracker sees viewers.
    globalThis.WEBTORRENT_ANNOUNCE = [];
    let registration = null;
    try {
      registration = await controllingServiceWorker(this.config.serviceWorkerUrl);
    } catch (error) {
      console.warn("P2P: no service worker, the video plays from the server:", error.message);
    }
    if (this.stopped) throw new Error("stopped");
    this.client = new WebTorrent({
      // ICE servers see the address of every viewer: by default only the instance's own STUN
      // server (instance/ice.py), which the page names with any other.
      tracker: { rtcConfig: { iceServers: this.config.iceServers } },
      // Peer exchange would tell peers about other peers, which the tracker never does.
      utPex: false,
    });
    this.client.on("error", (error) => console.warn("P2P:", error.message || error));
    if (registration) {
      navigator.serviceWorker.addEventListener("message", this.answerOnlyForThisTorrent);
      this.client.createServer({ controller: registration });
      this.canStream = true;
    }
    // The .torrent URL (not a bare magnet): metadata arrives from the server even with no peer,
    // and its url-list makes this server a webseed, so a lone viewer still plays.
    const torrent = this.client.add(this.config.torrentUrl, { announce: this.config.announce });
    this.torrent = torrent;
    torrent.on("wire", (wire) => {
      wire.on("download", (bytes) => {
        this.received[wire.type] = (this.received[wire.type] || 0) + bytes;
      });
    });
    torrent.on("warning", (warning) => console.debug("P2P:", warning.message || warning));
    await new Promise((resolve, reject) => {
      if (torrent.ready) return resolve();
      torrent.once("ready", resolve);
      torrent.once("error", reject);
      torrent.once("close", () => reject(new Error("stopped")));
    });
    return torrent.files[0];
  }

  // webtorrent's worker asks every window of the instance for each /webtorrent/ request and
  // takes the first answer; another tab's client would answer 404 for a torrent it lacks.
  // Listeners run in order: this one, added before createServer's, hides other torrents' requests.
  answerOnlyForThisTorrent(event) {
    const request = event.data;
    if (!request || request.type !== "webtorrent" || !request.url) return;
    const ours = `${new URL(request.scope).pathname}webtorrent/${this.config.infoHash}/`;
    if (!new URL(request.url).pathname.startsWith(ours)) event.stopImmediatePropagation();
  }

  stats() {
    const torrent = this.torrent;
    return {
      peers: torrent ? torrent.wires.filter((wire) => wire.type === "webrtc").length : 0,
      fromPeers: this.received.webrtc,
      fromServer: this.received.webSeed,
      uploaded: torrent ? torrent.uploaded : 0,
      progress: torrent ? torrent.progress : 0,
    };
  }

  // Leaves the swarm: the tracker socket closes with the last torrent (webtorrent's pool).
  stop() {
    this.stopped = true;
    navigator.serviceWorker?.removeEventListener("message", this.answerOnlyForThisTorrent);
    const client = this.client;
    this.client = null;
    if (!client) return Promise.resolve();
    return new Promise((resolve) => client.destroy(() => resolve()));
  }
}
