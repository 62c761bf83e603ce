from plugins.google_sheets.plugin import GoogleSheetsPlugin

__all__ = ["GoogleSheetsPlugin"]
