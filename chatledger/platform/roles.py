"""The roles a process can serve (DESIGN §8 `serve --roles`), apart from the code serving them, so
the command line can name them without importing the whole service."""

ALL_ROLES = ("api", "gateway", "ledger", "history")
