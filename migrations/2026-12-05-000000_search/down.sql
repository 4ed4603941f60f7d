DROP TRIGGER features_search_truncate ON public.features;
DROP TRIGGER product_search_truncate ON public.product;
DROP TRIGGER features_search ON public.features;
DROP TRIGGER product_search ON public.product;
-- The tables, functions and text search configurations, and with them the
-- two extensions, which were created in this schema.
DROP SCHEMA search CASCADE;
