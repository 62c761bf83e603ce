from plugins.airtable.plugin import AirtablePlugin

__all__ = ["AirtablePlugin"]
