"""Feeds: fetch safely, parse, normalise, sanitise, tag and dedupe what UN and R2P sources publish."""
