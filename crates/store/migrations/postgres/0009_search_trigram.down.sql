-- The extension stays: other objects of the database may use it.
DROP INDEX users_external_id_trgm;
DROP INDEX users_email_trgm;
DROP INDEX users_family_name_trgm;
DROP INDEX users_given_name_trgm;
DROP INDEX users_username_trgm;
