"""Auto keep-alive: a saved payment agreement tops a SIM up by itself before it lapses."""
