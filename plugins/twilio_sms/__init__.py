from plugins.twilio_sms.plugin import TwilioSmsPlugin

__all__ = ["TwilioSmsPlugin"]
