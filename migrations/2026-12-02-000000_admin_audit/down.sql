DROP SEQUENCE admin_photo_ids;
DROP TABLE admin_audit;
