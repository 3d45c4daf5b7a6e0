// The check of segments against the instance's list of their SHA-256 (segments-sha256.json,
// {segment file name: hex digest}), fetched once.
//
// p2p-media-loader 2.3.1 checks a segment with validateP2PSegment only when a peer sent all of
// it. A download a peer began and the server finished (an HTTP Range request resuming after the
// peer's bytes), or a peer's complete copy finished on the HTTP path, is checked with
// validateHTTPSegment instead: without that check too, a peer's corrupted bytes were played
// (measured: Chromium's decoder failed on them). So both check the same list. A segment that
// is not listed fails; when the list cannot be had, a peer's segment fails (the server is then
// asked) and a server's passes (it cannot be checked, and failing it would stop playback).
// A failed segment is dropped and fetched again from the server.

async function sha256Hex(data) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class SegmentCheck {
  // onRejected(url) runs for each segment that fails.
  constructor(listUrl, onRejected) {
    this.listUrl = listUrl;
    this.onRejected = onRejected;
    this.list = null; // the pending or loaded list; cleared on failure, so a later check retries
    // p2p-media-loader's validateP2PSegment and validateHTTPSegment:
    // (url, byteRange, data: ArrayBuffer) -> Promise<boolean>.
    this.peerSegment = (url, byteRange, data) => this.check(url, byteRange, data, false);
    this.serverSegment = (url, byteRange, data) => this.check(url, byteRange, data, true);
  }

  load() {
    this.list ??= fetch(this.listUrl, { credentials: "omit" }).then((response) => {
      if (!response.ok) throw new Error(`${this.listUrl}: HTTP ${response.status}`);
      return response.json();
    });
    this.list.catch(() => (this.list = null));
    return this.list;
  }

  async check(url, byteRange, data, passWithoutList) {
    let list;
    try {
      list = await this.load();
    } catch (error) {
      console.warn("P2P: the list of segment hashes is unavailable:", error.message || error);
      if (!passWithoutList) this.onRejected(url);
      return passWithoutList;
    }
    // The instance stores each segment as its own file: a byte range is never expected.
    const name = new URL(url, location.href).pathname.split("/").pop();
    const expected = byteRange || !Object.hasOwn(list, name) ? null : list[name];
    const valid = typeof expected === "string" && expected === (await sha256Hex(data));
    if (!valid) this.onRejected(url);
    return valid;
  }
}
