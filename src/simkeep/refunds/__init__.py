"""Money going back: refunds of credited top-ups (docs/refunds.md)."""
