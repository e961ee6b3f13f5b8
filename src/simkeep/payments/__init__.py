"""Payments: attempts to collect money for orders from providers, their notifications, polling."""
