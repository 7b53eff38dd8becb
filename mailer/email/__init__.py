"""Email: templates rendered once per campaign segment, MIME built once, filled per reader."""
