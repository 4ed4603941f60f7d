CREATE OR REPLACE FUNCTION forget_styles_answers() RETURNS trigger
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

CREATE OR REPLACE FUNCTION forget_all_styles_answers() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM styles_answers;
  RETURN NULL;
END $$;
