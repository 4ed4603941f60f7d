DROP TABLE related;
DROP TABLE skus;
DROP TABLE photos;
DROP TABLE styles;
DROP TABLE features;
DROP TABLE product;
