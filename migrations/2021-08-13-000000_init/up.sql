-- The Atelier catalog, as the original service's init.sql laid it out.
-- Ids are the dump's own ids, so none of them is generated here.
-- Prices are whole currency units, as in the dump (up to 500,000,000).

CREATE TABLE product (
  id            INTEGER     PRIMARY KEY,
  name          TEXT        NOT NULL,
  slogan        TEXT        NOT NULL,
  description   TEXT        NOT NULL,
  category      TEXT        NOT NULL,
  default_price INTEGER     NOT NULL CHECK (default_price >= 0),
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE features (
  id         INTEGER PRIMARY KEY,
  product_id INTEGER NOT NULL REFERENCES product (id) ON DELETE CASCADE,
  feature    TEXT    NOT NULL,
  value      TEXT
);
CREATE INDEX features_product_id_idx ON features (product_id);

CREATE TABLE styles (
  id             INTEGER PRIMARY KEY,
  product_id     INTEGER NOT NULL REFERENCES product (id) ON DELETE CASCADE,
  name           TEXT    NOT NULL,
  sale_price     INTEGER CHECK (sale_price >= 0),
  original_price INTEGER NOT NULL CHECK (original_price >= 0),
  default_style  BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX styles_product_id_idx ON styles (product_id);

CREATE TABLE photos (
  id            INTEGER PRIMARY KEY,
  style_id      INTEGER NOT NULL REFERENCES styles (id) ON DELETE CASCADE,
  url           TEXT    NOT NULL,
  thumbnail_url TEXT    NOT NULL
);
CREATE INDEX photos_style_id_idx ON photos (style_id);

CREATE TABLE skus (
  id       INTEGER PRIMARY KEY,
  style_id INTEGER NOT NULL REFERENCES styles (id) ON DELETE CASCADE,
  size     TEXT    NOT NULL,
  quantity INTEGER NOT NULL
);
CREATE INDEX skus_style_id_idx ON skus (style_id);

CREATE TABLE related (
  id                 INTEGER PRIMARY KEY,
  current_product_id INTEGER NOT NULL REFERENCES product (id) ON DELETE CASCADE,
  related_product_id INTEGER NOT NULL REFERENCES product (id) ON DELETE CASCADE
);
CREATE INDEX related_current_product_id_idx ON related (current_product_id);
CREATE INDEX related_related_product_id_idx ON related (related_product_id);
