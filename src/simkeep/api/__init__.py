"""HTTP API and operations endpoints: /api/v1 routers, /healthz, /metrics, API docs."""
