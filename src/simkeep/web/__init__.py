"""Server-rendered pages: routers by area, Jinja2 templates, static files and catalogs."""
