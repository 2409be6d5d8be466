-- The notification deliveries log goes (pending deliveries' jobs then fail permanently).
DROP TABLE notification_deliveries;
