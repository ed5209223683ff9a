-- Schema version 2: a push's userEmail is set by the pusher (through the commit) and has no length
-- limit, so its lookup index must hold any value: a btree entry holds at most ~2 700 bytes and an
-- insert of a longer userEmail failed with "index row size ... exceeds btree maximum". A hash
-- index keeps only a 4-byte hash per row and still serves `doc->>'userEmail' = ...` and `= ANY`
-- (as a bitmap scan). Every other indexed text field is bounded by the kit's shared key limit
-- (core/rules.py MAX_KEY_BYTES), which fits a btree.
DROP INDEX pushes_user_email_idx;
CREATE INDEX pushes_user_email_idx ON pushes USING hash ((doc->>'userEmail'));
