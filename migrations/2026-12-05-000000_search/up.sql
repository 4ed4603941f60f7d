-- Search: the catalog's text as PostgreSQL's full-text search reads it, in a
-- schema of its own (`search`), apart from the served tables: everything
-- here is derived from `product` and `features`, built by the import in its
-- staging schema and swapped in with them, kept current by the triggers at
-- the end, and rebuilt by `atelier search refresh`.
--
-- Matching is stemmed (English), case- and accent-insensitive (`unaccent`);
-- relevance comes from the weights: name A, category B, slogan C, feature
-- values D in `document`, the description in a tsvector of its own, which
-- makes it a fifth, last level (see src/catalog/search/read.rs).

CREATE SCHEMA search;

-- Both are trusted extensions (PostgreSQL 13+): the database's owner may
-- create them. They live in `search`, so nothing of theirs lands in public.
CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA search;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA search;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension
              WHERE extname IN ('unaccent', 'pg_trgm')
                AND extnamespace <> 'search'::regnamespace) THEN
    RAISE EXCEPTION 'unaccent and pg_trgm must be in schema search; move them with '
                    'ALTER EXTENSION ... SET SCHEMA search';
  END IF;
END $$;

-- English stemming after unaccent, for the words that have accents to lose
-- (ASCII words go straight to the stemmer).
CREATE TEXT SEARCH CONFIGURATION search.english_unaccent (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION search.english_unaccent
  ALTER MAPPING FOR hword, hword_part, word WITH search.unaccent, pg_catalog.english_stem;

-- The vocabulary's words: unstemmed, unaccented, lower case; the parts of a
-- hyphenated word, not the whole (a query's words never hold a hyphen), and
-- no e-mail addresses, URLs, hosts, file names or versions.
CREATE TEXT SEARCH CONFIGURATION search.simple_unaccent (COPY = pg_catalog.simple);
ALTER TEXT SEARCH CONFIGURATION search.simple_unaccent
  ALTER MAPPING FOR hword_part, word WITH search.unaccent, pg_catalog.simple;
ALTER TEXT SEARCH CONFIGURATION search.simple_unaccent
  DROP MAPPING FOR asciihword, hword, numhword, email, file, float, host, sfloat, url,
                   url_path, version;

-- The weighted tsvector of a product's name (A), category (B), slogan (C)
-- and feature values (D): the one definition of it.
CREATE FUNCTION search.document(name text, category text, slogan text, features text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('search.english_unaccent', name), 'A')
      || setweight(to_tsvector('search.english_unaccent', category), 'B')
      || setweight(to_tsvector('search.english_unaccent', slogan), 'C')
      || setweight(to_tsvector('search.english_unaccent', coalesce(features, '')), 'D')
$$;

-- The description's tsvector.
CREATE FUNCTION search.description(description text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_tsvector('search.english_unaccent', description)
$$;

-- One row per product. Each relevance level has its GIN index, so that a
-- query finds the products of a level from that level's words alone, and
-- the planner has statistics for each: level 1 is the name, 2 adds the
-- category, 3 the slogan, 4 the features, 5 the description.
CREATE TABLE search.products (
  product_id    integer  PRIMARY KEY REFERENCES public.product (id) ON DELETE CASCADE,
  category      text     NOT NULL,
  default_price integer  NOT NULL,
  document      tsvector NOT NULL,
  description   tsvector NOT NULL
);
CREATE INDEX products_level1 ON search.products USING gin (ts_filter(document, '{a}'));
CREATE INDEX products_level2 ON search.products USING gin (ts_filter(document, '{a,b}'));
CREATE INDEX products_level3 ON search.products USING gin (ts_filter(document, '{a,b,c}'));
CREATE INDEX products_level4 ON search.products USING gin (document);
CREATE INDEX products_level5 ON search.products USING gin ((document || description));
CREATE INDEX products_category ON search.products (category, product_id);
CREATE INDEX products_price ON search.products (default_price, product_id);

-- The catalog's words, for correcting misspelt ones: each with the number
-- of distinct texts (names, categories, slogans, descriptions, feature
-- values) it is in, to prefer the commoner of two equally close words.
CREATE TABLE search.words (
  word  text    PRIMARY KEY,
  texts integer NOT NULL
);
CREATE INDEX words_trigrams ON search.words USING gin (word search.gin_trgm_ops);

-- Products per category and default price: `GET /categories` without a
-- query adds these up instead of counting the products.
CREATE TABLE search.category_prices (
  category      text    NOT NULL,
  default_price integer NOT NULL,
  products      integer NOT NULL,
  PRIMARY KEY (category, default_price)
);

-- Builds the search rows of the products with ids in lo..hi, read from the
-- `product` and `features` tables of schema `source`, into the `products`
-- table of schema `target`: the import (staging into staging, in ranges on
-- several connections), `atelier search refresh` and this migration.
CREATE FUNCTION search.build_products(source text, target text, lo integer, hi integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  built bigint;
BEGIN
  EXECUTE format(
    'INSERT INTO %I.products (product_id, category, default_price, document, description)
     SELECT p.id, p.category, p.default_price,
            search.document(p.name, p.category, p.slogan, f.features),
            search.description(p.description)
       FROM %I.product p
       LEFT JOIN (SELECT product_id, string_agg(value, '' '' ORDER BY id) AS features
                    FROM %I.features
                   WHERE product_id BETWEEN $1 AND $2
                   GROUP BY product_id) f ON f.product_id = p.id
      WHERE p.id BETWEEN $1 AND $2',
    target, source, source) USING lo, hi;
  GET DIAGNOSTICS built = ROW_COUNT;
  RETURN built;
END $$;

-- Builds the vocabulary and the category and price counts of schema
-- `source`'s catalog into the tables of schema `target`. Each distinct text
-- is read once, so a catalog that repeats its texts costs less.
CREATE FUNCTION search.build_words_and_counts(source text, target text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'INSERT INTO %I.words (word, texts)
     SELECT word, ndoc FROM ts_stat(%L)',
    target,
    format('SELECT to_tsvector(''search.simple_unaccent'', t)
              FROM (SELECT name AS t FROM %1$I.product UNION SELECT category FROM %1$I.product
                    UNION SELECT slogan FROM %1$I.product UNION SELECT description FROM %1$I.product
                    UNION SELECT value FROM %1$I.features WHERE value IS NOT NULL) texts',
           source));
  EXECUTE format(
    'INSERT INTO %I.category_prices (category, default_price, products)
     SELECT category, default_price, count(*) FROM %I.product GROUP BY category, default_price',
    target, source);
END $$;

-- The search row of product `id` as its rows are now (none if it is gone),
-- and its words added to the vocabulary (a word no product has any more
-- stays until `atelier search refresh`: it can only propose a correction
-- that then finds nothing, and is not used).
CREATE FUNCTION search.refresh_product(id integer) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO search.products AS s (product_id, category, default_price, document, description)
  SELECT p.id, p.category, p.default_price,
         search.document(p.name, p.category, p.slogan,
                         (SELECT string_agg(f.value, ' ' ORDER BY f.id)
                            FROM public.features f WHERE f.product_id = p.id)),
         search.description(p.description)
    FROM public.product p
   WHERE p.id = refresh_product.id
  ON CONFLICT (product_id) DO UPDATE
     SET category = excluded.category, default_price = excluded.default_price,
         document = excluded.document, description = excluded.description;
  INSERT INTO search.words (word, texts)
  SELECT DISTINCT w, 1
    FROM public.product p,
         unnest(tsvector_to_array(to_tsvector('search.simple_unaccent',
           concat_ws(' ', p.name, p.category, p.slogan, p.description,
                     (SELECT string_agg(f.value, ' ') FROM public.features f
                       WHERE f.product_id = p.id))))) AS w
   WHERE p.id = refresh_product.id
  ON CONFLICT (word) DO NOTHING;
$$;

-- Adds `delta` products to a category and price (a count that reaches 0
-- goes).
CREATE FUNCTION search.count_price(category text, price integer, delta integer) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO search.category_prices AS c (category, default_price, products)
  VALUES (count_price.category, count_price.price, count_price.delta)
  ON CONFLICT (category, default_price) DO UPDATE SET products = c.products + excluded.products;
  DELETE FROM search.category_prices c
   WHERE c.category = count_price.category AND c.default_price = count_price.price
     AND c.products <= 0;
$$;

CREATE FUNCTION search.product_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM search.count_price(OLD.category, OLD.default_price, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM search.count_price(NEW.category, NEW.default_price, 1);
    PERFORM search.refresh_product(NEW.id);
  END IF;
  -- A deleted product's search row goes with it (its foreign key).
  RETURN NULL;
END $$;

CREATE FUNCTION search.features_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM search.refresh_product(OLD.product_id);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.product_id <> OLD.product_id) THEN
    PERFORM search.refresh_product(NEW.product_id);
  END IF;
  RETURN NULL;
END $$;

-- After a TRUNCATE no row trigger runs. `TRUNCATE product` must cascade,
-- which empties `search.products` with it; the counts go here.
CREATE FUNCTION search.product_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM search.category_prices;
  RETURN NULL;
END $$;

-- Every product lost its feature values.
CREATE FUNCTION search.features_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE search.products s
     SET document = search.document(p.name, p.category, p.slogan, NULL)
    FROM public.product p
   WHERE p.id = s.product_id;
  RETURN NULL;
END $$;

CREATE TRIGGER product_search AFTER INSERT OR DELETE
    OR UPDATE OF name, slogan, description, category, default_price ON public.product
  FOR EACH ROW EXECUTE FUNCTION search.product_changed();
CREATE TRIGGER features_search AFTER INSERT OR UPDATE OR DELETE ON public.features
  FOR EACH ROW EXECUTE FUNCTION search.features_changed();
CREATE TRIGGER product_search_truncate AFTER TRUNCATE ON public.product
  FOR EACH STATEMENT EXECUTE FUNCTION search.product_truncated();
CREATE TRIGGER features_search_truncate AFTER TRUNCATE ON public.features
  FOR EACH STATEMENT EXECUTE FUNCTION search.features_truncated();

-- What the catalog already holds (a database migrated with its catalog).
SELECT search.build_products('public', 'search', -2147483648, 2147483647);
SELECT search.build_words_and_counts('public', 'search');
