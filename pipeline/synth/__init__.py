"""Synthetic Mars frames: terrain, sun, hardware and camera models for training without labelled data."""
