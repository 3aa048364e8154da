"""A local stand-in for the Telegram Bot API server (tests and ``duban demo``).

See :mod:`bot_api_standin.server` for usage; :mod:`bot_api_standin.spec` validates calls
against the packaged spec subset (``api_subset.json``, made by ``scripts/make_api_subset.py``).
"""

from .server import (
    ApiCall,
    BotApiStandIn,
    RateLimits,
    StoredFile,
    TranscriptEvent,
    WebhookDelivery,
)
from .spec import (
    ApiError,
    FormattedText,
    UploadedFile,
    ValidatedCall,
    load_api_subset,
    parse_html,
    validate_call,
)

__all__ = [
    "ApiCall",
    "ApiError",
    "BotApiStandIn",
    "FormattedText",
    "RateLimits",
    "StoredFile",
    "TranscriptEvent",
    "UploadedFile",
    "ValidatedCall",
    "WebhookDelivery",
    "load_api_subset",
    "parse_html",
    "validate_call",
]
