-- Every write through the admin API, in the transaction that made it: when,
-- by which token (its configured name, never the token), what was asked, and
-- the resource before and after as the admin API answers it. No foreign
-- keys: an import replaces the catalog's tables, and the history stays.
CREATE TABLE admin_audit (
  id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          TIMESTAMPTZ NOT NULL DEFAULT now(),
  token_name  TEXT        NOT NULL,
  action      TEXT        NOT NULL,
  resource    TEXT        NOT NULL,
  resource_id INTEGER     NOT NULL,
  product_id  INTEGER     NOT NULL,
  change      JSONB       NOT NULL,
  before      JSONB,
  after       JSONB,
  -- The writing transaction's id. Instances that read a replica, where
  -- NOTIFY never arrives, find the writes they have not seen by it: every
  -- transaction not yet visible to a snapshot has an id at or above that
  -- snapshot's xmin, whatever order the transactions commit in.
  xact        BIGINT      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
);
CREATE INDEX admin_audit_xact_idx ON admin_audit (xact);
CREATE INDEX admin_audit_product_id_idx ON admin_audit (product_id, id);

-- Ids of the photos the admin API adds. The dump brings its own ids, so this
-- is no column default (an import's staging tables copy the defaults); a
-- write takes the next ids past both this and the largest photo id, and
-- since a sequence never goes back, the id of a removed photo is never
-- handed out again.
CREATE SEQUENCE admin_photo_ids;
