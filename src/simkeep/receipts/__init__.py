"""Receipts: what a top-up receipt shows, its verification signature, and its PDF."""
