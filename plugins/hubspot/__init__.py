from plugins.hubspot.plugin import HubSpotPlugin

__all__ = ["HubSpotPlugin"]
