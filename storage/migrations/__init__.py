"""Alembic migrations of duban's database; ``Store.upgrade()`` (``duban db upgrade``) runs them.

New revisions: write them by hand in ``versions/`` (``NNNN_what.py``), constraint names explicit
(see the naming convention in :mod:`storage.tables`), and use ``op.batch_alter_table`` so that
they work on SQLite too. ``tests/storage/test_migrations.py`` checks the result against the models.
"""
