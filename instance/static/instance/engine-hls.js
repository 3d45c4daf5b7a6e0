// The player's engine for a video with an HLS streaming playlist: hls.js plays it, and
// p2p-media-loader shares its segments with other viewers through this instance's tracker
// (PeerTube 6's player). Same interface as engine-webtorrent.js: setP2P(on), p2p, stats().
//
// P2P off (not yet accepted, ?p2p=0, turned off) is p2p-media-loader's isP2PDisabled: the
// engine then never opens the tracker socket, and segments come from the server through
// hls.js's own loader. Switching it at runtime keeps the video playing where it is.

import Hls from "hls.js";
import { HlsJsP2PEngine } from "p2p-media-loader-hlsjs";

import { SegmentCheck } from "./segment-check.js";

const HlsWithP2P = HlsJsP2PEngine.injectMixin(Hls);

export class HlsEngine {
  // hls.js needs Media Source Extensions; without them the page uses the webtorrent engine.
  static supported() {
    return Hls.isSupported();
  }

  constructor(config, video, onStatus) {
    this.config = config;
    this.video = video;
    this.onStatus = onStatus;
    this.hls = null;
    this.fellBack = false;
    this.recoveredMedia = false;
    this.p2p = false;
    this.peers = new Set(); // open peer connections: "<stream type> <peer id>"
    this.counts = { fromPeers: 0, fromServer: 0, uploaded: 0, rejected: 0 };
  }

  setP2P(on) {
    if (this.fellBack) return; // playing the MP4 after a fatal error: no P2P any more
    this.p2p = on;
    if (on) this.onStatus("P2P on: parts of this video may come from other viewers, the rest from the server.");
    if (!this.hls) {
      this.start(on);
      return;
    }
    this.hls.p2pEngine.applyDynamicConfig({ core: { isP2PDisabled: !on } });
    if (!on) this.peers.clear(); // the core closes them all
  }

  start(p2p) {
    const { hls: playlist, announce, iceServers } = this.config;
    const check = new SegmentCheck(playlist.segmentsSha256Url, (url) => {
      this.counts.rejected += 1;
      console.warn(`P2P: ${url} failed its SHA-256 check: dropped, asked from the server`);
    });
    const hls = new HlsWithP2P({
      p2p: {
        core: {
          isP2PDisabled: !p2p,
          // Never the library's defaults (public trackers, Google's and Twilio's STUN servers):
          // only this instance's tracker and ICE servers learn who watches.
          announceTrackers: announce,
          rtcConfig: { iceServers },
          swarmId: playlist.swarmId,
          validateP2PSegment: check.peerSegment,
          validateHTTPSegment: check.serverSegment,
        },
      },
    });
    this.hls = hls;
    this.countTraffic(hls);
    hls.on(Hls.Events.ERROR, (event, data) => this.recover(data));
    hls.loadSource(playlist.playlistUrl);
    hls.attachMedia(this.video);
  }

  countTraffic(hls) {
    const engine = hls.p2pEngine;
    const counts = this.counts;
    engine.addEventListener("onChunkDownloaded", (bytes, source) => {
      if (source === "p2p") counts.fromPeers += bytes;
      else counts.fromServer += bytes;
    });
    engine.addEventListener("onChunkUploaded", (bytes) => (counts.uploaded += bytes));
    engine.addEventListener("onPeerConnect", ({ peerId, streamType }) => {
      if (this.p2p) this.peers.add(`${streamType} ${peerId}`);
    });
    engine.addEventListener("onPeerClose", ({ peerId, streamType }) => {
      this.peers.delete(`${streamType} ${peerId}`);
    });
    engine.addEventListener("onTrackerWarning", ({ warning }) => {
      console.warn("P2P: the tracker says:", warning?.message || warning);
    });
    // Segments p2p-media-loader does not handle (init segments; all of them while P2P is off)
    // come through hls.js's own loader, which reports the request it made; the core's do not.
    hls.on(Hls.Events.FRAG_LOADED, (event, data) => {
      if (data.networkDetails) counts.fromServer += data.payload.byteLength;
    });
  }

  // hls.js's own advice for fatal errors: reload for a network error, reset the decoder once
  // for a media error; anything else ends in the plain MP4 over HTTP.
  recover(data) {
    if (!data.fatal) return;
    console.warn("HLS playback error:", data.details);
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      this.hls.startLoad();
    } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !this.recoveredMedia) {
      this.recoveredMedia = true;
      this.hls.recoverMediaError();
    } else {
      const resumeAt = this.video.currentTime;
      this.fellBack = true;
      this.hls.destroy();
      this.p2p = false;
      this.peers.clear();
      this.onStatus("The video plays from the server (its streaming failed).");
      this.video.src = this.config.fileUrl;
      this.video.addEventListener("loadedmetadata", () => (this.video.currentTime = resumeAt), {
        once: true,
      });
    }
  }

  stats() {
    const video = this.video;
    let buffered = 0;
    for (let i = 0; i < video.buffered.length; i++) {
      buffered += video.buffered.end(i) - video.buffered.start(i);
    }
    return {
      p2p: this.p2p,
      peers: this.peers.size,
      ...this.counts,
      // The buffered share of the video (webtorrent's engine: the share of the file it holds).
      progress: video.duration > 0 ? Math.min(1, buffered / video.duration) : 0,
    };
  }
}
