"""A distiller written as a user would write one, outside relkd (tests/distillers/test_user.py)."""
