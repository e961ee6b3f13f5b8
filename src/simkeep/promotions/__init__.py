"""Promotions: condition + benefit, decided by one pure function before payment, reserved
when the order is placed and granted into benefit buckets when it is credited
(docs/promotions.md)."""
