-- A gateway's socket rows in `connections` name the gateway that holds the socket, and each
-- gateway holds a lease it renews while alive: a live gateway deletes the rows of gateways whose
-- lease ran out (a SIGKILLed gateway never deletes its own). Rows written by the ledger
-- (POST /chat/connection/add) have no gateway and are never swept.
ALTER TABLE connections
  ADD COLUMN IF NOT EXISTS gateway_id CHAR(36) CHARACTER SET ascii NULL,
  ADD KEY IF NOT EXISTS ix_connections_gateway (gateway_id);

CREATE TABLE IF NOT EXISTS gateway_leases (
  gateway_id  CHAR(36) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  expires_at  DATETIME(6) NOT NULL
) ENGINE = InnoDB;
