-- Each product's GET /products/:id/styles answer, kept rendered: the import
-- fills it, and the endpoint reads one row instead of every style's photos
-- and skus. A product without a row here is answered from styles, photos and
-- skus, so a change to those tables only has to drop the answers it touches,
-- which the triggers below do.
CREATE TABLE styles_answers (
  product_id INTEGER PRIMARY KEY REFERENCES product (id) ON DELETE CASCADE,
  body       TEXT    NOT NULL
);

-- lz4 packs the answers as small as the default pglz with less CPU. A
-- server built without lz4 keeps pglz.
DO $$
BEGIN
  ALTER TABLE styles_answers ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END $$;

-- Drops the answers of the products a changed row belongs (or belonged) to.
CREATE FUNCTION forget_styles_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'styles' THEN
    DELETE FROM styles_answers
     WHERE product_id IN (OLD.product_id, NEW.product_id);
  ELSE
    DELETE FROM styles_answers
     WHERE product_id IN (SELECT product_id FROM styles
                           WHERE id IN (OLD.style_id, NEW.style_id));
  END IF;
  RETURN NULL;
END $$;

-- After TRUNCATE no row trigger runs: every answer goes.
CREATE FUNCTION forget_all_styles_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM styles_answers;
  RETURN NULL;
END $$;

CREATE TRIGGER styles_forget_answers AFTER INSERT OR UPDATE OR DELETE ON styles
  FOR EACH ROW EXECUTE FUNCTION forget_styles_answers();
CREATE TRIGGER photos_forget_answers AFTER INSERT OR UPDATE OR DELETE ON photos
  FOR EACH ROW EXECUTE FUNCTION forget_styles_answers();
CREATE TRIGGER skus_forget_answers AFTER INSERT OR UPDATE OR DELETE ON skus
  FOR EACH ROW EXECUTE FUNCTION forget_styles_answers();
CREATE TRIGGER styles_forget_all_answers AFTER TRUNCATE ON styles
  FOR EACH STATEMENT EXECUTE FUNCTION forget_all_styles_answers();
CREATE TRIGGER photos_forget_all_answers AFTER TRUNCATE ON photos
  FOR EACH STATEMENT EXECUTE FUNCTION forget_all_styles_answers();
CREATE TRIGGER skus_forget_all_answers AFTER TRUNCATE ON skus
  FOR EACH STATEMENT EXECUTE FUNCTION forget_all_styles_answers();
