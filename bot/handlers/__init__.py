"""Every handler of the bot, one module per role, registered in one place and in order.

* :mod:`bot.handlers.common`: who is calling, /start (enrolment), /help, /lang, errors;
* :mod:`bot.handlers.contact`: /mytasks, /report, status buttons, replies in words, evidence;
* :mod:`bot.handlers.leader`: /summary, /task, /unit, /overdue, /export;
* :mod:`bot.handlers.admin`: /invite, /people, /revoke, /reload.
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


def register_handlers(application: Application) -> None:
    """All handlers, in order: commands, then buttons, then free text and files, then errors."""
    # 1. Commands first so that "/report ..." is never read as free text.
    for name, callback in (("start", common.start), ("help", common.help_command),
                           ("lang", common.lang),
                           ("mytasks", contact.my_tasks), ("report", contact.report_command),
                           ("summary", leader.summary), ("task", leader.task_command),
                           ("unit", leader.unit_command), ("overdue", leader.overdue),
                           ("export", leader.export),
                           ("invite", admin.invite), ("people", admin.people),
                           ("revoke", admin.revoke), ("reload", admin.reload_timetable)):
        application.add_handler(CommandHandler(name, callback))
    # 2. Buttons, by the prefix of their callback data.
    application.add_handler(CallbackQueryHandler(contact.report_button, pattern=r"^r\|"))
    application.add_handler(CallbackQueryHandler(contact.confirm_button, pattern=r"^c\|"))
    application.add_handler(CallbackQueryHandler(contact.acknowledge_button, pattern=r"^a\|"))
    application.add_handler(CallbackQueryHandler(contact.open_task, pattern=r"^t\|"))
    application.add_handler(CallbackQueryHandler(common.language_button, pattern=r"^l\|"))
    # 3. Files and free text in private chats.
    private = filters.ChatType.PRIVATE
    application.add_handler(MessageHandler(
        private & (filters.Document.ALL | filters.PHOTO), contact.evidence))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND,
                                           contact.text_reply))
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, common.chat_migrated))
    # 4. Unknown commands last.
    application.add_handler(MessageHandler(filters.COMMAND, common.unknown_command))
    application.add_error_handler(common.error_handler)


__all__ = ["register_handlers"]
