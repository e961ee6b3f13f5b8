"""Subscribers: logins by phone number and password, one-time codes, sessions."""
