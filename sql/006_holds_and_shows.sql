-- Holds and shows (DESIGN §10): projections of chat_events, written by the ledger in the batch
-- that appends their events, rebuilt and audited like the others.
-- holds: every hold ever placed; the open ones of a client are what its available balance lacks.
CREATE TABLE IF NOT EXISTS holds (
  hold_id      CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  client_name  VARCHAR(100) NOT NULL,
  amount       DECIMAL(20, 2) NOT NULL,
  expires_at   DATETIME(6) NOT NULL,
  purpose      VARCHAR(20) NOT NULL,
  status       VARCHAR(10) NOT NULL,
  captured     DECIMAL(20, 2) NULL,
  resolved_by  CHAR(36) CHARACTER SET ascii NULL,
  KEY ix_holds_client (client_uuid, status),
  KEY ix_holds_model (model_uuid, status),
  KEY ix_holds_due (status, expires_at)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS show_rates (
  model_uuid    CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  private_rate  DECIMAL(20, 2) NOT NULL,
  spy_rate      DECIMAL(20, 2) NOT NULL
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS shows (
  show_id       CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  model_uuid    CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_name   VARCHAR(100) NOT NULL,
  rate          DECIMAL(20, 2) NOT NULL,
  minute_s      DOUBLE NOT NULL,
  requested_at  DATETIME(6) NOT NULL,
  status        VARCHAR(10) NOT NULL,
  started_at    DATETIME(6) NULL,
  minutes       INT NOT NULL,
  charged       DECIMAL(20, 2) NOT NULL,
  hold_id       CHAR(36) CHARACTER SET ascii NULL,
  KEY ix_shows_model (model_uuid, status),
  KEY ix_shows_status (status)
) ENGINE = InnoDB;

-- The spies of shows still on (a row goes when its spying ends).
CREATE TABLE IF NOT EXISTS show_spies (
  spy_id        CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  show_id       CHAR(36) CHARACTER SET ascii NOT NULL,
  model_uuid    CHAR(36) CHARACTER SET ascii NOT NULL,
  spy_uuid      CHAR(36) CHARACTER SET ascii NOT NULL,
  spy_name      VARCHAR(100) NOT NULL,
  rate          DECIMAL(20, 2) NOT NULL,
  started_at    DATETIME(6) NOT NULL,
  minutes       INT NOT NULL,
  charged       DECIMAL(20, 2) NOT NULL,
  hold_id       CHAR(36) CHARACTER SET ascii NULL,
  KEY ix_show_spies_model (model_uuid)
) ENGINE = InnoDB;
