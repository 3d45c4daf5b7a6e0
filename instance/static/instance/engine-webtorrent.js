// The player's engine for a video without HLS: its MP4 streamed over webtorrent (P2P on), or
// the webseed file in <video src> over plain HTTP (P2P off). Same interface as engine-hls.js:
// setP2P(on), p2p, stats(); status lines go to onStatus.

import { P2PStream } from "./p2p-stream.js";

// Without metadata by then, the video starts from the server while the torrent keeps trying.
const P2P_START_TIMEOUT_MS = 8000;

export class WebTorrentEngine {
  constructor(config, video, onStatus) {
    this.config = config;
    this.video = video;
    this.onStatus = onStatus;
    this.stream = null; // the running P2PStream
    this.before = { fromPeers: 0, fromServer: 0, uploaded: 0 }; // totals of stopped streams
    this.httpPlaybackBytes = 0; // estimated: see estimateHttpBytes()
  }

  get p2p() {
    return this.stream !== null;
  }

  setP2P(on) {
    return on ? this.playOverP2P() : this.playOverHttp();
  }

  setSource(url) {
    const video = this.video;
    const absolute = new URL(url, location.href).href;
    if (video.currentSrc === absolute || video.src === absolute) return;
    const resumeAt = video.currentTime;
    // A page whose autoplay has not started yet (nothing played so far) plays on too: else a
    // viewer who accepts P2P before the server's first bytes arrive gets a paused video.
    const autoplayPending = video.autoplay && video.played.length === 0;
    const wasPlaying = (!video.paused && !video.ended) || autoplayPending;
    const first = !video.src;
    video.src = url;
    if (!first) {
      // The autoplay attribute plays the first source; later a switch keeps the viewer's pause.
      video.autoplay = false;
      video.addEventListener("loadedmetadata", () => (video.currentTime = resumeAt), { once: true });
      if (wasPlaying) video.play().catch(() => {});
    }
  }

  async stopStream() {
    if (!this.stream) return;
    const { fromPeers, fromServer, uploaded } = this.stream.stats();
    this.before = {
      fromPeers: this.before.fromPeers + fromPeers,
      fromServer: this.before.fromServer + fromServer,
      uploaded: this.before.uploaded + uploaded,
    };
    const stopping = this.stream;
    this.stream = null;
    await stopping.stop();
  }

  async playOverHttp() {
    await this.stopStream();
    this.setSource(this.config.fileUrl);
  }

  async playOverP2P() {
    if (this.stream) return;
    const current = new P2PStream(this.config);
    this.stream = current;
    this.onStatus("P2P: connecting…");
    const startFromServer = setTimeout(() => {
      if (!this.video.src) this.setSource(this.config.fileUrl);
    }, P2P_START_TIMEOUT_MS);
    try {
      const file = await current.start();
      if (this.stream !== current) return;
      if (current.canStream) {
        this.setSource(file.streamURL);
        this.onStatus("P2P on: parts of this video may come from other viewers, the rest from the server.");
      } else {
        this.setSource(this.config.fileUrl);
        this.onStatus("P2P shares the video, which plays from the server here.");
      }
    } catch (error) {
      if (this.stream !== current) return;
      console.warn("P2P could not start:", error);
      this.onStatus("P2P could not start: the video plays from the server.");
      this.setSource(this.config.fileUrl);
    } finally {
      clearTimeout(startFromServer);
    }
  }

  // Bytes of plain HTTP playback, which the page cannot count: the buffered share of the file.
  // An estimate (re-fetched or skipped ranges are missed); the largest value seen is kept.
  estimateHttpBytes() {
    const video = this.video;
    const playingFile = video.currentSrc === new URL(this.config.fileUrl, location.href).href;
    if (!playingFile || !(video.duration > 0)) return;
    let seconds = 0;
    for (let i = 0; i < video.buffered.length; i++) {
      seconds += video.buffered.end(i) - video.buffered.start(i);
    }
    const bytes = Math.round(Math.min(1, seconds / video.duration) * this.config.fileSize);
    this.httpPlaybackBytes = Math.max(this.httpPlaybackBytes, bytes);
  }

  stats() {
    this.estimateHttpBytes();
    const live = this.stream
      ? this.stream.stats()
      : { peers: 0, fromPeers: 0, fromServer: 0, uploaded: 0, progress: 0 };
    return {
      p2p: this.p2p,
      peers: live.peers,
      fromPeers: this.before.fromPeers + live.fromPeers,
      fromServer: this.before.fromServer + live.fromServer + this.httpPlaybackBytes,
      uploaded: this.before.uploaded + live.uploaded,
      rejected: 0, // webtorrent checks each piece's SHA-1 and fetches a bad one again; not counted
      progress: live.progress,
    };
  }
}
