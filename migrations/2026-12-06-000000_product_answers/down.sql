DROP TRIGGER features_forget_all_answers ON features;
DROP TRIGGER features_forget_answers ON features;
DROP TRIGGER product_forget_answers ON product;
DROP FUNCTION forget_all_product_answers();
DROP FUNCTION forget_product_answers();
DROP TABLE product_answers;
