"""The HTTP edge: what every request and response passes through before and after any route
(body caps, security headers). See docs/http-edge.md."""
