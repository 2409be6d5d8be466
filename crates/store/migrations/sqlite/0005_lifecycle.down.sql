DROP TABLE target_links;
