-- Each product's GET /products/:id answer, kept rendered, as styles_answers
-- keeps /styles': the import fills it, and the endpoint reads one row
-- instead of the product joined to its features. The body is the answer
-- after its "campus" member (from `"name":` to the closing brace): the
-- campus is the instance's setting, written in front of the body with the
-- id when the answer is served. A product without a row here is answered
-- from its rows, so a change to product or features only has to drop the
-- answers it touches, which the triggers below do.
CREATE TABLE product_answers (
  product_id INTEGER PRIMARY KEY REFERENCES product (id) ON DELETE CASCADE,
  body       TEXT    NOT NULL
);

DO $$
BEGIN
  ALTER TABLE product_answers ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END $$;

-- Drops the answers of the products a changed row is (or was) about. A
-- deleted product's answer goes with it (ON DELETE CASCADE), and a new one
-- has none yet.
CREATE FUNCTION forget_product_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'product' THEN
    DELETE FROM product_answers WHERE product_id IN (OLD.id, NEW.id);
  ELSE
    DELETE FROM product_answers
     WHERE product_id IN (OLD.product_id, NEW.product_id);
  END IF;
  RETURN NULL;
END $$;

-- After TRUNCATE no row trigger runs: every answer goes. (TRUNCATE product
-- has to cascade, which empties product_answers too.)
CREATE FUNCTION forget_all_product_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM product_answers;
  RETURN NULL;
END $$;

CREATE TRIGGER product_forget_answers AFTER UPDATE ON product
  FOR EACH ROW EXECUTE FUNCTION forget_product_answers();
CREATE TRIGGER features_forget_answers AFTER INSERT OR UPDATE OR DELETE ON features
  FOR EACH ROW EXECUTE FUNCTION forget_product_answers();
CREATE TRIGGER features_forget_all_answers AFTER TRUNCATE ON features
  FOR EACH STATEMENT EXECUTE FUNCTION forget_all_product_answers();
