"""Glassbox: an observability-first prediction service for a LightGBM model."""
