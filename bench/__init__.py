"""The tracker benchmark (not part of the app nor of the test suite): see README, Benchmark."""
