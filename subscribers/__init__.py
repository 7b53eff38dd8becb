"""People: signup, double opt-in, preferences and unsubscribe (issue 3)."""
