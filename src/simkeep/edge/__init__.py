"""The HTTP edge: what every request passes through before any route (body caps). See
docs/http-edge.md."""
