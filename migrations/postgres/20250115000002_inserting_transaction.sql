-- The transaction that inserted each row. Rows are never updated or deleted, so the
-- rows a snapshot sees, beyond those an earlier snapshot saw, are exactly the rows
-- whose inserting transaction that earlier snapshot did not see: a total of q counted
-- at one snapshot is brought up to date by testing those rows alone. Rows already
-- stored get the migration's transaction, which no earlier snapshot is remembered for.
ALTER TABLE messages ADD COLUMN inserted_by xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX messages_by_inserting_transaction ON messages (inserted_by);
