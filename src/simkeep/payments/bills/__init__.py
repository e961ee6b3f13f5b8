"""Readers of the providers' daily bills, one module per bill format."""
