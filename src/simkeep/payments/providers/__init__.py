"""Merchant-side adapters, one module per payment provider."""
