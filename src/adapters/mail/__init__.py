"""Mail transports: SMTP (aiosmtplib), and the development outbox (files or memory)."""

from adapters.mail.development import DevelopmentMailer
from adapters.mail.message import mime_message
from adapters.mail.smtp import SmtpMailer, SmtpTarget

__all__ = ["DevelopmentMailer", "SmtpMailer", "SmtpTarget", "mime_message"]
