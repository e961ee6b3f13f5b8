"""Benefit buckets: what a promotion grants a SIM (voice minutes, data MB, SMS, bonus money),
each with its own expiry, spent by usage before the balance (docs/promotions.md)."""
