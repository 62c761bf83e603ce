from plugins.teams.plugin import TeamsPlugin

__all__ = ["TeamsPlugin"]
