"""Training: config, data mixing, the resumable training loop."""
