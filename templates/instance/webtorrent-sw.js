{% load static %}// webtorrent's service worker, served from the site root so that its scope may be "/"
// (webtorrent 2.8.5's streamTo() fetches /webtorrent/<path> through it). It answers only /webtorrent/ URLs.
importScripts("{% static 'vendor/webtorrent/sw.min.js' %}");

// webtorrent's worker claims the open pages once, when it activates. A page that began loading
// just before that stays uncontrolled, and streamTo() would 404: such a page asks for a claim.
self.addEventListener("message", (event) => {
  if (event.data === "claim") event.waitUntil(self.clients.claim());
});
