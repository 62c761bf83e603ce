from plugins.slack.plugin import SlackPlugin

__all__ = ["SlackPlugin"]
