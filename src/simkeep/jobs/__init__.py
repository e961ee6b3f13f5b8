"""Jobs: the worker loop and what it runs on a schedule."""
