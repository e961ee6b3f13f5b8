"""Staff: accounts with a second factor, their sessions, roles and the audit log."""
