"""Packaged data: default feed sources and relevance rules."""
