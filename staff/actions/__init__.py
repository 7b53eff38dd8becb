"""The audited staff actions the console, the JSON API and the CLI all call, one module
per area: ``actor`` (who, from where, via which front end), ``alerts``, ``digest``,
``readers``, ``campaigns``, ``feeds`` and ``accounts``.

Each action checks its input, makes the change through the lower layers and writes
exactly one audit entry, whichever front end asked; it takes the session (keyword-only)
and never commits: the caller commits, then wakes the delivery worker if needed.
"""
