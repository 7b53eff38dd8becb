"""The outbox: every email, bulk or to one reader, goes out through it, by stage.

- ``status``: the stored values (campaign, delivery and reader statuses, priorities).
- ``campaigns``: a campaign's lifecycle, from draft through sending to done, cancelled
  or expired.
- ``ledger``: the deliveries, one row per (campaign, reader, content): enqueued, claimed
  by a worker under a lease, settled with the relay's reply, retried or given back.
- ``queries``: read-only counts for admin pages and health checks.
- ``transactional``: one email to one reader (confirmations, links), through the ledger.

Import from the stage modules; this package re-exports nothing.
"""
