"""Demo data for the embedded default: realistic books to look at and check."""
