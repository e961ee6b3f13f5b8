"""simkeep: prepaid accounts and top-ups for China–Hong Kong dual-number SIM cards."""
