-- Stored /styles answers follow the contract for a style without photos or
-- without skus: one photo whose fields are null, and one sku keyed "null"
-- (the live API's answer; front ends read photos[0] unguarded). Answers
-- rendered before wrote [] and {} there. Outside a string, `"photos":[]` and
-- `"skus":{}` can only be those keys with empty values (a quote inside a JSON
-- string is escaped, and only keys are followed by a colon), so replacing
-- the text is exact.
UPDATE styles_answers
   SET body = replace(replace(body,
         '"photos":[]', '"photos":[{"thumbnail_url":null,"url":null}]'),
         '"skus":{}', '"skus":{"null":{"quantity":null,"size":null}}')
 WHERE strpos(body, '"photos":[]') > 0 OR strpos(body, '"skus":{}') > 0;
