-- The relay (chatledger/ledger/relay.py): each partition's end offset of a topic as last seen.
-- An end below the recorded one means the broker lost the partition's records; the process
-- whose conditional UPDATE records the lower end republishes what that partition held.
CREATE TABLE IF NOT EXISTS bus_partition_ends (
  topic       VARCHAR(249) CHARACTER SET ascii NOT NULL,
  part        INT UNSIGNED NOT NULL,
  end_offset  BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (topic, part)
) ENGINE = InnoDB;
