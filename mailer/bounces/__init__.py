"""What mailbox providers send back about delivered mail: bounce addresses (VERP),
parsing reports, deciding what they mean, and recording them in ``mail_reports``."""
