"""Checking the line, not running it: deterministic synthetic frames for benchmarks and parity checks
(sample_frames), the NOCS-format fixture frames of a checkout (fixture_frames), and the engine-vs-engine
parity report (parity) that cleanpose-export and the tests use. Nothing here is on the node's path."""
