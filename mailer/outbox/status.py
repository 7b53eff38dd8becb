"""The values the outbox stores and compares: campaign, delivery and subscriber statuses,
and the priorities of mail.

The columns stay plain strings and integers (no schema change); these enums are
``StrEnum`` / ``IntEnum``, so a member compares equal to, and is stored as, the same
string or number the code wrote by hand before.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CampaignStatus(StrEnum):
    """A campaign's lifecycle: draft -> sending <-> paused -> done (or cancelled/expired).
    An alert approved for a later send time waits as scheduled, then goes on to sending."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class DeliveryStatus(StrEnum):
    """One delivery row: queued -> sending (claimed, leased) -> sent, failed or cancelled;
    a retry or a lost lease puts it back to queued."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SubscriberStatus(StrEnum):
    """A reader: pending (not confirmed yet), active, or one of the suppressed states."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Priority(IntEnum):
    """Claim order: higher first. An alert goes out ahead of a digest being sent."""

    DIGEST = 0
    TRANSACTIONAL = 50
    ALERT = 100


# Campaigns that may still send (and so may still expire).
OPEN_CAMPAIGN = (
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.SENDING,
    CampaignStatus.PAUSED,
)
# Campaigns that have ended: nothing in them can be started, paused or cancelled again.
FINISHED_CAMPAIGN = (CampaignStatus.DONE, CampaignStatus.CANCELLED, CampaignStatus.EXPIRED)
# Campaigns an admin or the clock stopped: their rows take no retries.
STOPPED_CAMPAIGN = (CampaignStatus.CANCELLED, CampaignStatus.EXPIRED)
# Campaigns whose mail went out (or is going out): the archive lists digests in these.
PUBLISHED_CAMPAIGN = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.DONE)

# Deliveries not settled yet: waiting in the queue or held by a worker.
ACTIVE_DELIVERY = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)

# Readers who get no bulk mail.
SUPPRESSED = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)
# Addresses that bounced or complained get nothing at all, not even a confirmation asked
# for from the form (anyone can ask for one: mailing them hurts the sender's reputation).
UNREACHABLE = frozenset({SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED})
# The reader statuses that counts and filters show (metrics, the admin overview, the
# ``subscribers`` commands); ``complained`` is set by a feedback report (spam complaint).
REPORTED_SUBSCRIBER = (
    SubscriberStatus.PENDING,
    SubscriberStatus.ACTIVE,
    SubscriberStatus.UNSUBSCRIBED,
    SubscriberStatus.BOUNCED,
    SubscriberStatus.COMPLAINED,
)
