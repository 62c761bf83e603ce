from plugins.discord.plugin import DiscordPlugin

__all__ = ["DiscordPlugin"]
