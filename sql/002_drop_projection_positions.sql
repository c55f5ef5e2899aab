-- Nothing read it: the inline projections are written in the same transaction as the events
-- they fold (always exact), and `rebuild` reports the position it folded through.
DROP TABLE IF EXISTS projection_positions;
