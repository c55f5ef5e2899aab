-- The brief's tables, the event log and the projections the ledger keeps inline.
-- UUIDs are CHAR(36) ASCII: readable in a shell, and cheap enough at this size.

CREATE TABLE accounts (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  owner_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  kind        ENUM('model', 'client') NOT NULL,
  login       VARCHAR(191) NULL,
  password    VARCHAR(255) NULL,
  balance     DECIMAL(20, 2) NOT NULL DEFAULT 0.00,
  created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_accounts_owner (owner_uuid),
  UNIQUE KEY uq_accounts_login (login),
  CONSTRAINT ck_accounts_balance_not_negative CHECK (balance >= 0)
) ENGINE = InnoDB;

CREATE TABLE users (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  uuid        CHAR(36) CHARACTER SET ascii NOT NULL,
  name        VARCHAR(100) NOT NULL,
  account_id  BIGINT UNSIGNED NOT NULL,
  created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_users_uuid (uuid),
  CONSTRAINT fk_users_account FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE = InnoDB;

CREATE TABLE clients (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  uuid        CHAR(36) CHARACTER SET ascii NOT NULL,
  name        VARCHAR(100) NOT NULL,
  account_id  BIGINT UNSIGNED NOT NULL,
  created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_clients_uuid (uuid),
  CONSTRAINT fk_clients_account FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE = InnoDB;

CREATE TABLE connections (
  id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  type             ENUM('user', 'client') NOT NULL,
  entity_uuid      CHAR(36) CHARACTER SET ascii NOT NULL,
  connection_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  chat_uuid        CHAR(36) CHARACTER SET ascii NOT NULL,
  created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_connections_connection (connection_uuid),
  KEY ix_connections_entity (entity_uuid)
) ENGINE = InnoDB;

-- One row per stream: its version is the seq of its last event. Locked FOR UPDATE per batch.
CREATE TABLE streams (
  stream   CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  version  BIGINT UNSIGNED NOT NULL
) ENGINE = InnoDB;

CREATE TABLE chat_events (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event_id    CHAR(36) CHARACTER SET ascii NOT NULL,
  command_id  CHAR(36) CHARACTER SET ascii NOT NULL,
  stream      CHAR(36) CHARACTER SET ascii NOT NULL,
  seq         BIGINT UNSIGNED NOT NULL,
  type        VARCHAR(32) CHARACTER SET ascii NOT NULL,
  actor_uuid  CHAR(36) CHARACTER SET ascii NULL,
  actor_role  ENUM('client', 'model') NULL,
  actor_name  VARCHAR(100) NULL,
  is_public   BOOLEAN NOT NULL,
  amount      DECIMAL(20, 2) NULL,
  payload     JSON NOT NULL,
  created_at  DATETIME(6) NOT NULL,
  UNIQUE KEY uq_chat_events_event (event_id),
  UNIQUE KEY uq_chat_events_stream_seq (stream, seq),
  KEY ix_chat_events_command (command_id),
  KEY ix_chat_events_stream_time (stream, created_at),
  CONSTRAINT ck_chat_events_payload CHECK (JSON_VALID(payload))
) ENGINE = InnoDB;

-- Every command the ledger has handled, with or without events: the idempotency guard.
CREATE TABLE applied_commands (
  command_id  CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  outcome     VARCHAR(255) NOT NULL,
  applied_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

CREATE TABLE goals (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  uuid         CHAR(36) CHARACTER SET ascii NOT NULL,
  user_id      BIGINT UNSIGNED NOT NULL,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  name         VARCHAR(200) NOT NULL,
  sum          DECIMAL(20, 2) NOT NULL DEFAULT 0.00,
  require_sum  DECIMAL(20, 2) NOT NULL,
  is_active    BOOLEAN NOT NULL DEFAULT TRUE,
  created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_goals_uuid (uuid),
  KEY ix_goals_model_active (model_uuid, is_active)
) ENGINE = InnoDB;

CREATE TABLE donor_totals (
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  total        DECIMAL(20, 2) NOT NULL,
  PRIMARY KEY (model_uuid, client_uuid)
) ENGINE = InnoDB;

-- The brief's sponsors: one row per change of sponsor (the latest row is the current one).
CREATE TABLE sponsors (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id      BIGINT UNSIGNED NOT NULL,
  client_id    BIGINT UNSIGNED NOT NULL,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  event_id     CHAR(36) CHARACTER SET ascii NOT NULL,
  created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_sponsors_event (event_id),
  KEY ix_sponsors_model (model_uuid, id)
) ENGINE = InnoDB;

CREATE TABLE current_sponsors (
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  client_name  VARCHAR(100) NOT NULL
) ENGINE = InnoDB;

-- How far each projection got: written in the same transaction as the projection itself.
CREATE TABLE projection_positions (
  name        VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  position    BIGINT UNSIGNED NOT NULL,
  updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB;

CREATE VIEW messages AS
  SELECT id, event_id, stream AS chat_uuid, actor_uuid AS author_uuid, is_public,
         JSON_UNQUOTE(JSON_EXTRACT(payload, '$.message')) AS value,
         created_at, created_at AS updated_at
  FROM chat_events
  WHERE type = 'message'
     OR (type = 'donate' AND JSON_TYPE(JSON_EXTRACT(payload, '$.message')) = 'STRING');

CREATE VIEW donations AS
  SELECT id, event_id, stream AS model_uuid, actor_uuid AS client_uuid,
         JSON_TYPE(JSON_EXTRACT(payload, '$.message')) = 'STRING' AS has_message,
         IF(JSON_TYPE(JSON_EXTRACT(payload, '$.message')) = 'STRING', id, NULL) AS message_id,
         amount AS sum, created_at, created_at AS updated_at
  FROM chat_events
  WHERE type = 'donate';
