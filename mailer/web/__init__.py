"""Web plumbing shared by the reader pages (``subscribers.web``) and the staff console
(``staff.console``): page rendering and security headers (``pages``), CSRF (``csrf``),
rate limits (``ratelimit``), error pages (``errors``), tokens kept out of access logs
(``redact``), and what is not a page of either side (``site``: error handlers, static
files, the favicon). Importing the package imports no web framework: the scheduler and
the CLI use the rate-limit sweep without it."""
