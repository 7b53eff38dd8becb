"""Feeds: fetch safely, parse, normalise, sanitise, tag and dedupe what the sources publish."""
