"""Keeping numbers alive (保號): the rules, and the daily retention run."""
