DROP TRIGGER skus_forget_all_answers ON skus;
DROP TRIGGER photos_forget_all_answers ON photos;
DROP TRIGGER styles_forget_all_answers ON styles;
DROP TRIGGER skus_forget_answers ON skus;
DROP TRIGGER photos_forget_answers ON photos;
DROP TRIGGER styles_forget_answers ON styles;
DROP FUNCTION forget_all_styles_answers();
DROP FUNCTION forget_styles_answers();
DROP TABLE styles_answers;
