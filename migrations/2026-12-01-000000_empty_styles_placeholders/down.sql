-- Back to the earlier shape of a style without photos or skus ([] and {}).
-- A stored photo or sku always has non-null fields, so only the
-- placeholders match.
UPDATE styles_answers
   SET body = replace(replace(body,
         '"photos":[{"thumbnail_url":null,"url":null}]', '"photos":[]'),
         '"skus":{"null":{"quantity":null,"size":null}}', '"skus":{}')
 WHERE strpos(body, '"photos":[{"thumbnail_url":null,"url":null}]') > 0
    OR strpos(body, '"skus":{"null":{"quantity":null,"size":null}}') > 0;
