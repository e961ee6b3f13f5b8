"""Notifications: SMS (and later email) written to an outbox with the change that causes
them, and delivered by the worker, at least once, through a gateway behind a Protocol."""
