"""Extraction stage: archived HTML bytes -> article text and metadata (trafilatura inside)."""
