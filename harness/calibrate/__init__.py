"""Calibration of the stochastic thresholds from the reference's seed-to-seed spread."""
