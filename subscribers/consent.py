"""Consent records: the exact words a reader agreed to, when, on which form, from where.

The sentence shown on the form is defined here and stored as shown, so the record proves
what was agreed even after the wording changes (R2P_CONSENT_FORM_VERSION says which form).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailer.models import Subscriber

FORM_SENTENCE = (
    "I want to receive the R2P news emails I chose above at this address. I can change "
    "what I receive or unsubscribe at any time with the link in every email. My address, "
    "my choices and a record of this consent (date, IP address and browser) are kept for "
    "that purpose only and never shared."
)
ADMIN_PENDING = "Added by an admin; the reader is asked to confirm by email before any mailing."
ADMIN_CONFIRMED = "Added by an admin who states that the reader consented elsewhere."


@dataclass(frozen=True)
class Consent:
    at: datetime
    form: str
    text: str
    ip: str = ""
    user_agent: str = ""

    def record_on(self, subscriber: Subscriber) -> None:
        subscriber.consent_at = self.at
        subscriber.consent_form = self.form[:64]
        subscriber.consent_text = self.text
        subscriber.consent_ip = self.ip[:64]
        subscriber.consent_user_agent = self.user_agent[:500]
