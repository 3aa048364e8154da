"""Marking domain strings for translation without translating them here.

The domain names things people read (skip reasons, timetable problems) but has no language: it
marks them with :func:`N_` so that ``pybabel extract -k N_`` finds them (``babel.cfg`` reads
``schedules/``), and ``bot/`` translates them with the reader's catalog.
"""


def N_(message: str) -> str:
    """Mark ``message`` for extraction; return it unchanged (English, the message id)."""
    return message
