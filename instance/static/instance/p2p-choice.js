// Whether P2P runs for this view: the instance's and the video's switches (from the server),
// ?p2p=0, and the viewer's own choice, remembered in the browser for every video of the instance.

const CHOICE_KEY = "peerveil.p2p"; // "on" | "off"
const NOTICE_KEY = "peerveil.p2pNotice"; // "accepted"

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

export class P2PChoice {
  constructor(config) {
    this.config = config;
    this.offForThisView = config.p2pOffForThisView;
  }

  get noticeAccepted() {
    return stored(NOTICE_KEY) === "accepted";
  }

  // What applies now: {p2p: true} or {p2p: false, reason, ask}.
  decide() {
    if (!this.config.p2pAllowed) {
      return { p2p: false, reason: "P2P is off for this video: it plays from the server only." };
    }
    if (this.offForThisView) return { p2p: false, reason: "P2P is off for this view." };
    if (stored(CHOICE_KEY) === "off") {
      return { p2p: false, reason: "You turned P2P off: the video plays from the server only." };
    }
    if (this.config.p2pRequiresConsent && !this.noticeAccepted) {
      return { p2p: false, reason: "Playing from the server until you choose.", ask: true };
    }
    return { p2p: true };
  }

  accept() {
    store(NOTICE_KEY, "accepted");
    store(CHOICE_KEY, "on");
  }

  decline() {
    store(CHOICE_KEY, "off");
  }

  // The toggle under the video: remembered, and it overrides ?p2p=0 for the rest of the view.
  set(on) {
    store(CHOICE_KEY, on ? "on" : "off");
    this.offForThisView = false;
  }
}
