"""Test helpers: a local feed server and database fixtures' building blocks."""
