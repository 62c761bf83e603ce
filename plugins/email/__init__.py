from plugins.email.plugin import EmailPlugin

__all__ = ["EmailPlugin"]
