"""Alembic's migrations of the schema (`versions/`), run by `storage.db.Database.upgrade`."""

# The newest revision. A database already there is not handed to Alembic at start, which
# would load every migration to find out (a fifth of a command's start); a new migration
# moves this, and tests/test_migrations.py fails until it does.
HEAD = "0012"
