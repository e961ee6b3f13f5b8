"""Top-up orders: from a chosen number and amount to a credited balance, exactly once."""
