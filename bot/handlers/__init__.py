"""Every handler of the bot, one module per role, registered in one place and in order.

* :mod:`bot.handlers.common`: who is calling, /start (enrolment), /help, /lang, what is
  not read (edits, forwards, unknown commands), errors;
* :mod:`bot.handlers.contact`: /mytasks, /report, /extend, /calendar, status and 收到 buttons,
  replies in words, evidence;
* :mod:`bot.handlers.leader`: /bind (a leadership group), /summary, /task (contacts too),
  /unit, /overdue, /review, /export, /chart, /scores, /bulletin, /digest; review, extension and
  urge buttons, and the reasons asked for;
* :mod:`bot.handlers.admin`: /invite, /invites, /cancel, /people, /revoke, /unbind, /reload,
  /audit.
"""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.handlers import admin, common, contact, leader

COMMANDS = (
    ("start", common.start), ("bind", leader.bind), ("help", common.help_command),
    ("lang", common.lang),
    ("mytasks", contact.my_tasks), ("report", contact.report_command),
    ("extend", contact.extend_command), ("calendar", contact.calendar_feed),
    ("summary", leader.summary), ("task", leader.task_command), ("unit", leader.unit_command),
    ("overdue", leader.overdue), ("review", leader.review_command), ("export", leader.export),
    ("chart", leader.chart), ("scores", leader.scores), ("bulletin", leader.bulletin),
    ("digest", leader.digest),
    ("invite", admin.invite), ("invites", admin.open_invites), ("cancel", admin.cancel_invite),
    ("people", admin.people), ("revoke", admin.revoke),
    ("unbind", admin.unbind), ("reload", admin.reload_timetable), ("audit", admin.audit),
)


def register_handlers(application: Application) -> None:
    """All handlers, in order; the first that matches an update handles it."""
    # 0. Before everything (group -1): a leader's reply giving the reason to return a report or
    #    reject an extension request. It stops the update when it took it; else the update goes
    #    on to the handlers below as if nothing had looked at it.
    application.add_handler(MessageHandler(
        filters.UpdateType.MESSAGE & filters.REPLY & filters.TEXT & ~filters.COMMAND
        & ~filters.FORWARDED, leader.comment_reply), group=-1)
    # 1. An edited message is never a report nor a command: caught before anything else.
    application.add_handler(MessageHandler(filters.UpdateType.EDITED, common.edited_message))
    # 2. Neither is a forwarded message (it may be someone else's words).
    application.add_handler(MessageHandler(filters.FORWARDED, common.forwarded))
    # 3. Commands, so that "/report ..." is never read as free text. PTB already ignores a
    #    command addressed to another bot (/summary@PollBot). Who may use which, where:
    #    docs/access.md.
    for name, callback in COMMANDS:
        application.add_handler(CommandHandler(name, callback))
    # 4. Buttons, by the prefix of their callback data; anything else has expired.
    application.add_handler(CallbackQueryHandler(contact.report_button, pattern=r"^r\|"))
    application.add_handler(CallbackQueryHandler(contact.answer_question, pattern=r"^c\|"))
    application.add_handler(CallbackQueryHandler(contact.acknowledge_button, pattern=r"^a\|"))
    application.add_handler(CallbackQueryHandler(contact.report_all_button, pattern=r"^b\|"))
    application.add_handler(CallbackQueryHandler(contact.extension_unit_button,
                                                 pattern=r"^e\|"))
    application.add_handler(CallbackQueryHandler(contact.open_task, pattern=r"^t\|"))
    application.add_handler(CallbackQueryHandler(leader.review_button, pattern=r"^v\|"))
    application.add_handler(CallbackQueryHandler(leader.extension_button, pattern=r"^x\|"))
    application.add_handler(CallbackQueryHandler(leader.urge_button, pattern=r"^u\|"))
    application.add_handler(CallbackQueryHandler(common.language_button, pattern=r"^l\|"))
    application.add_handler(CallbackQueryHandler(common.expired_button))
    # 5. Files, media the bot does not keep, and free text, in private chats.
    private = filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(
        private & (filters.Document.ALL | filters.PHOTO), contact.evidence))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND,
                                           contact.text_reply))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, common.chat_migrated))
    #    Any other kind of message (voice, video, stickers, dice, polls, games, venues,
    #    stories...) is not kept: a short answer privately, silence in groups.
    application.add_handler(MessageHandler(
        private & filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
        contact.unsupported_media))
    # 6. Unknown commands last (answered in private chats only).
    application.add_handler(MessageHandler(filters.COMMAND, common.unknown_command))
    application.add_error_handler(common.error_handler)


__all__ = ["COMMANDS", "register_handlers"]
