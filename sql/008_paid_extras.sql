-- DESIGN §11's paid pins and toy queue: projections of chat_events, written by the ledger in the
-- batch that appends their events, rebuilt and audited like the others (ledger/extras_rows.py
-- builds every row; rebuild and audit use the same builders).
-- chat_extras: a chat's pin tiers and toy levels, as settings_changed's wire JSON.
CREATE TABLE IF NOT EXISTS chat_extras (
  model_uuid  CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  pin_tiers   TEXT CHARACTER SET ascii NOT NULL,
  toy_levels  TEXT CHARACTER SET ascii NOT NULL
) ENGINE = InnoDB;

-- pins: every pin ever bought; the queued and showing ones are what the ledger loads.
CREATE TABLE IF NOT EXISTS pins (
  pin_id       CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  client_name  VARCHAR(100) NOT NULL,
  message      VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  amount       DECIMAL(20, 2) NOT NULL,
  seconds      INT NOT NULL,
  seq          BIGINT UNSIGNED NOT NULL,
  bought_at    DATETIME(6) NOT NULL,
  status       VARCHAR(10) NOT NULL,
  started_at   DATETIME(6) NULL,
  ends_at      DATETIME(6) NULL,
  ended_by     CHAR(36) CHARACTER SET ascii NULL,
  KEY ix_pins_model (model_uuid, status),
  KEY ix_pins_status (status)
) ENGINE = InnoDB;

-- toy_turns: one per tip that reached a toy level, keyed by the tip's event id.
CREATE TABLE IF NOT EXISTS toy_turns (
  donation_id  CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  donor_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  donor_name   VARCHAR(100) NOT NULL,
  public       BOOLEAN NOT NULL,
  anonymous    BOOLEAN NOT NULL,
  level        INT NOT NULL,
  seconds      INT NOT NULL,
  seq          BIGINT UNSIGNED NOT NULL,
  status       VARCHAR(10) NOT NULL,
  started_at   DATETIME(6) NULL,
  ends_at      DATETIME(6) NULL,
  ended_by     CHAR(36) CHARACTER SET ascii NULL,
  KEY ix_toy_turns_model (model_uuid, status),
  KEY ix_toy_turns_status (status)
) ENGINE = InnoDB;
