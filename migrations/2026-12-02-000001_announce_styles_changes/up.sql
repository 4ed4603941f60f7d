-- A change to a product's styles, photos or skus is announced on the
-- channel `atelier_catalog` with the product's id (`*` after a TRUNCATE:
-- every product), delivered when the change commits. Every instance listens
-- there and drops that product's cached answers at once, so the catalog
-- watcher need not empty whole caches for changes to these three tables.
-- NOTIFY folds identical announcements of one transaction into one.
CREATE OR REPLACE FUNCTION forget_styles_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  products integer[];
BEGIN
  IF TG_TABLE_NAME = 'styles' THEN
    products := ARRAY[OLD.product_id, NEW.product_id];
  ELSE
    products := ARRAY(SELECT product_id FROM styles
                       WHERE id IN (OLD.style_id, NEW.style_id));
  END IF;
  DELETE FROM styles_answers WHERE product_id = ANY (products);
  PERFORM pg_notify('atelier_catalog', p::text)
     FROM unnest(products) AS p WHERE p IS NOT NULL;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION forget_all_styles_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM styles_answers;
  PERFORM pg_notify('atelier_catalog', '*');
  RETURN NULL;
END $$;
