-- The feed's position goes: a feed started again begins at the end of the event log.
DROP TABLE notification_feed;
