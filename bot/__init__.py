"""duban's Telegram side: handlers, rendering, i18n, reminders, reports and the CLI.

python-telegram-bot 22 returns durations such as ``RetryAfter.retry_after`` as ``timedelta`` only
when ``PTB_TIMEDELTA`` is set; without it every 429 also emits a deprecation warning. Opt in to
the new behaviour here, before anything reads it.
"""

import os

os.environ.setdefault("PTB_TIMEDELTA", "true")
