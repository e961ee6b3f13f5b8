"""Fault injection: a bank test of simkeep while its processes and links fail (``make chaos``)."""
