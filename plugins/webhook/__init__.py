from plugins.webhook.plugin import WebhookPlugin

__all__ = ["WebhookPlugin"]
