"""The email an event becomes: rendered subject, recipients and text/HTML parts."""

from __future__ import annotations

import base64
import email.utils
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from app.contract import PluginError, render, select_fields, template_context
from plugins.email.addresses import bare, parse_addresses
from plugins.email.config import DEFAULT_SUBJECT, MAX_RECIPIENTS

DEFAULT_BODY = """{{ event_title }}: {{ form.name }}

{% for f in fields %}{{ f.label }}: {{ f.value }}
{% endfor %}{% if submission.id %}
Submission {{ submission.id }}
{% endif %}"""

DEFAULT_HTML = """<!doctype html>
<html><body style="font-family:Arial,sans-serif;color:#222">
<h2 style="font-size:18px">{{ event_title }}: {{ form.name }}</h2>
<table cellpadding="6" cellspacing="0" style="border-collapse:collapse">
{% for f in fields %}<tr><th align="left" valign="top" style="border-bottom:1px solid #ddd">{{ f.label }}</th>\
<td style="border-bottom:1px solid #ddd;white-space:pre-wrap">{{ f.value }}</td></tr>
{% endfor %}</table>
{% if submission.id %}<p style="color:#888;font-size:12px">Submission {{ submission.id }}</p>{% endif %}
</body></html>
"""


@dataclass
class Envelope:
    """A message ready to send, with who it goes to and which rendered recipients were not addresses."""

    message: EmailMessage
    sender: str
    recipients: list[str]
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        m = self.message
        return {
            "from": m["From"],
            "to": m.get_all("To", []),
            "cc": m.get_all("Cc", []),
            "bcc": [r for r in self.recipients if r not in _header_addresses(m)],
            "subject": m["Subject"],
            "message_id": m["Message-ID"],
            "skipped": self.skipped,
        }


def _header_addresses(m: EmailMessage) -> set[str]:
    return {addr for _, addr in email.utils.getaddresses(m.get_all("To", []) + m.get_all("Cc", []))}


def _rendered_addresses(
    entries: list[str], context: dict[str, Any], what: str
) -> tuple[list[str], list[str]]:
    valid: list[str] = []
    skipped: list[str] = []
    for entry in entries:
        good, bad = parse_addresses(render(entry, context, what=what))
        valid += [a for a in good if a not in valid]
        skipped += bad
    return valid, skipped


def _attachments(
    entries: list[str], context: dict[str, Any], payload: dict[str, Any]
) -> list[tuple[str, str, bytes]]:
    """The files ``entries`` render to (file ids of earlier workflow steps, sent in ``payload["files"]``);
    an entry that renders empty is left out, one naming no file of the run fails the message."""
    files = payload.get("files") or {}
    found: list[tuple[str, str, bytes]] = []
    for entry in entries:
        file_id = render(entry, context, what="attachments").strip()
        if not file_id:
            continue
        file = files.get(file_id)
        if not isinstance(file, dict):
            raise PluginError(
                f"Attachment {file_id!r} is no file an earlier step of this run made.", permanent=True
            )
        content = base64.b64decode(file.get("content_base64") or "")
        kind = str(file.get("content_type") or "application/octet-stream")
        found.append((str(file.get("filename") or "file"), kind, content))
    return found


def build(config: dict[str, Any], payload: dict[str, Any], message_key: str) -> Envelope:
    """Render the config's templates for ``payload``. ``message_key`` makes the Message-ID stable across retries."""
    selected = select_fields(payload, config.get("fields"))
    context = template_context(payload, selected)
    to, skipped_to = _rendered_addresses(config["to"], context, "to")
    cc, skipped_cc = _rendered_addresses(config.get("cc", []), context, "cc")
    bcc, skipped_bcc = _rendered_addresses(config.get("bcc", []), context, "bcc")
    skipped = skipped_to + skipped_cc + skipped_bcc
    if not (to or cc or bcc):
        shown = ", ".join(repr(s) for s in skipped) or "nothing"
        raise PluginError(
            f"No recipient: the recipients rendered to {shown}, not email addresses.", permanent=True
        )

    msg = EmailMessage()
    sender = config["from_address"]
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if config.get("reply_to"):
        reply_to, _ = parse_addresses(render(config["reply_to"], context, what="reply_to"))
        if reply_to:
            msg["Reply-To"] = reply_to[0]
    subject = render(config.get("subject") or DEFAULT_SUBJECT, context, what="subject")
    msg["Subject"] = " ".join(subject.split())[:250]
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = f"<{message_key}@{bare(sender).rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this

    msg.set_content(render(config.get("body") or DEFAULT_BODY, context, what="body"))
    if config.get("html", True):
        html = config.get("html_body") or (None if config.get("body") else DEFAULT_HTML)
        if html:
            msg.add_alternative(render(html, context, mode="html", what="html_body"), subtype="html")
    for name, content_type, content in _attachments(config.get("attachments") or [], context, payload):
        maintype, _, subtype = content_type.partition("/")
        charset = {"charset": "utf-8"} if maintype == "text" else {}  # (the host steps write UTF-8)
        msg.add_attachment(
            content, maintype=maintype, subtype=subtype or "octet-stream", filename=name, params=charset
        )
    recipients = list(dict.fromkeys(bare(a) for a in to + cc + bcc))  # once each, even if listed twice
    if len(recipients) > MAX_RECIPIENTS:  # counted as rendered: one template can become many addresses
        raise PluginError(
            f"The recipients rendered to {len(recipients)} addresses; at most {MAX_RECIPIENTS} may receive "
            "one message. Check the to, cc and bcc templates: each should render to a few addresses.",
            permanent=True,
        )
    return Envelope(msg, bare(sender), recipients, skipped)
