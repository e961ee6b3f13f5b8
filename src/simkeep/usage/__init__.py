"""Usage charging for the network: rates per plan, network clients, and the usage records the
carrier reports, rated and paid from benefit buckets, bonus money and the balance
(docs/usage.md)."""
