"""``python -m app.scaffold NAME [--dir DIR]``: the scaffold without a configured app (no database needed)."""

from app.cli import new_plugin_command

new_plugin_command.main(prog_name="python -m app.scaffold")
