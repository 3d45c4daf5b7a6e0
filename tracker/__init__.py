"""The instance's private WebTorrent tracker: a sans-I/O core with Channels and HTTP shells."""
