"""The domain of duban: timetable, units, working-day calendar, reminder planning, statuses.

Nothing in this package imports ``telegram`` or touches a database.
"""
