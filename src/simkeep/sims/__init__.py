"""SIM cards: the card, its two lines (+852 and +86), its plan, state and real-name record."""
