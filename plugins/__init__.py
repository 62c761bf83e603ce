"""Built-in plugins. Each is a package with one module per concern; they use only ``app.contract`` and the shared
``app.templating`` / ``app.field_selection`` helpers."""
