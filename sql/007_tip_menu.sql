-- DESIGN §10's tip menu: menu_changed folded into one row per chat (the whole menu, its version).
-- A cleared menu keeps its row (version counts on, items '[]'). items is the wire form's JSON,
-- written only by `ledger/menu_rows.py` (rebuild and audit build it with the same function).
CREATE TABLE chat_menus (
  model_uuid  CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  version     INT UNSIGNED NOT NULL,
  items       TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
) ENGINE = InnoDB;
