"""What Google's answers mean to a form owner, and whether retrying can help."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import google.auth.exceptions
import requests
from gspread.exceptions import APIError, SpreadsheetNotFound, WorksheetNotFound

from app.contract import PluginError
from app.contract.http import retry_after_seconds


@contextmanager
def google_errors(email: str, key: str) -> Iterator[None]:
    """Turn gspread, google-auth and network exceptions into PluginErrors."""
    share = f"Share the spreadsheet with {email} as an Editor."
    try:
        yield
    except PluginError:
        raise
    except WorksheetNotFound as exc:
        raise PluginError(
            f"The spreadsheet has no worksheet named {str(exc)!r}. Check the worksheet title.", permanent=True
        ) from None
    except SpreadsheetNotFound:
        raise PluginError(
            f"Spreadsheet {key} was not found. Check its URL; if it is right, {share[0].lower()}{share[1:]}",
            permanent=True,
        ) from None
    except PermissionError as exc:  # gspread's open_by_key turns a 403 into this
        raise _denied(email, key, share, exc.__cause__) from None
    except APIError as exc:
        raise _api_error(exc, email, key, share) from None
    except google.auth.exceptions.RefreshError as exc:
        raise _refused_key(exc, email) from None
    except (google.auth.exceptions.TransportError, requests.RequestException) as exc:
        raise PluginError(f"Could not reach Google: {exc}.") from None


def _denied(email: str, key: str, share: str, cause: BaseException | None) -> PluginError:
    detail = f" ({cause.error.get('message')})" if isinstance(cause, APIError) else ""
    return PluginError(
        f"The service account {email} has no access to spreadsheet {key}{detail}. {share}",
        permanent=True,
        response={"status_code": 403},
    )


def _api_error(exc: APIError, email: str, key: str, share: str) -> PluginError:
    status = exc.response.status_code
    message = exc.error.get("message") or exc.response.reason
    summary = {"status_code": status, "body_excerpt": exc.response.text[:500]}
    if status == 403:
        return _denied(email, key, share, exc)
    if status == 404:
        return PluginError(
            f"Spreadsheet {key} was not found ({message}). {share}", permanent=True, response=summary
        )
    if status == 401:
        return PluginError(
            f"Google rejected the credentials of {email} ({message}). Paste a fresh JSON key.",
            permanent=True,
            response=summary,
        )
    if status in (408, 429) or status >= 500:
        wait = retry_after_seconds(exc.response.headers.get("Retry-After"))
        return PluginError(
            f"Google Sheets answered {status} ({message}); will retry.", retry_after=wait, response=summary
        )
    return PluginError(f"Google Sheets refused the change: {message}.", permanent=True, response=summary)


def _refused_key(exc: google.auth.exceptions.RefreshError, email: str) -> PluginError:
    details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    reason = ": ".join(filter(None, (details.get("error"), details.get("error_description")))) or str(
        exc.args[0]
    )
    if getattr(exc, "retryable", False):
        return PluginError(f"Google could not issue a token for {email} right now ({reason}); will retry.")
    return PluginError(
        f"Google refused the key of {email} ({reason}). The key may have been deleted or disabled: "
        "create a new JSON key for this service account and paste it.",
        permanent=True,
    )
