"""Scheduled and on-demand work: polling feeds now; digests, alerts and delivery later."""
