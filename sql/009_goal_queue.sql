-- DESIGN §11's goal queue: a goal added with "queued": true waits (is_queued, not is_active)
-- until every active goal of its chat has ended, then starts; queue_seq is the seq of its
-- new_goal in the chat's stream, its place in the queue (kept once it starts). Written only from
-- `ledger/projection_rows.py` (rebuild and audit build the rows with the same function).
ALTER TABLE goals
  ADD COLUMN is_queued BOOLEAN NOT NULL DEFAULT FALSE AFTER is_active,
  ADD COLUMN queue_seq BIGINT UNSIGNED NULL AFTER is_queued,
  ADD KEY ix_goals_model_queued (model_uuid, is_queued, queue_seq);
