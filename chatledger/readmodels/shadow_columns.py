"""The column types of `rebuild`'s shadow tables, as `sql/` declares the live ones: the shadow
tables of goals, donors and rules (`shadow_tables.py`) and of holds and shows (`show_audit.py`)
must hold exactly what the live tables hold, so both take them from here."""

UUID = "CHAR(36) CHARACTER SET ascii NOT NULL"
MONEY = "DECIMAL(20, 2) NOT NULL"
