"""WSGI entry point: ``gunicorn wsgi:app``. Each worker runs its own scheduler, safely (atomic claims)."""

from app import create_app

app = create_app()
