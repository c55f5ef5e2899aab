-- DESIGN §9's projections, each folded from chat_events by the ledger inline, `rebuild` and `audit`.

-- settings_changed: the chat's minimum tip (no row: no minimum).
CREATE TABLE chat_settings (
  model_uuid    CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  min_donation  DECIMAL(20, 2) NOT NULL
) ENGINE = InnoDB;

-- viewer_muted: the latest mute of a client in a chat (expired rows stay: they are harmless).
CREATE TABLE chat_mutes (
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  muted_until  DATETIME(6) NOT NULL,
  PRIMARY KEY (model_uuid, client_uuid)
) ENGINE = InnoDB;

-- viewer_banned / viewer_unbanned: who is banned now.
CREATE TABLE chat_bans (
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  PRIMARY KEY (model_uuid, client_uuid)
) ENGINE = InnoDB;

-- The leaderboard: a donor's net total per UTC day (donations less their refunds; anonymous
-- tips never counted). A period's board sums the days from its start.
CREATE TABLE donor_days (
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  day          DATE NOT NULL,
  client_uuid  CHAR(36) CHARACTER SET ascii NOT NULL,
  total        DECIMAL(20, 2) NOT NULL,
  PRIMARY KEY (model_uuid, day, client_uuid)
) ENGINE = InnoDB;

-- donate_refunded: a donation is refunded at most once (the primary key says so too).
CREATE TABLE refunds (
  donation_id  CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  refund_id    CHAR(36) CHARACTER SET ascii NOT NULL,
  UNIQUE KEY uq_refunds_refund (refund_id)
) ENGINE = InnoDB;

-- message_deleted: history leaves these messages out.
CREATE TABLE deleted_messages (
  message_id   CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  model_uuid   CHAR(36) CHARACTER SET ascii NOT NULL,
  deletion_id  CHAR(36) CHARACTER SET ascii NOT NULL,
  UNIQUE KEY uq_deleted_messages_deletion (deletion_id)
) ENGINE = InnoDB;
