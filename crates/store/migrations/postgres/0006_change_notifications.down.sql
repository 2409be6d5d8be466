DROP TRIGGER signing_keys_changed ON signing_keys;
DROP TRIGGER api_tokens_changed ON api_tokens;
DROP TRIGGER auth_sessions_changed ON auth_sessions;
DROP TRIGGER operators_changed ON operators;
DROP TRIGGER group_members_changed ON group_members;
DROP TRIGGER groups_changed ON groups;
DROP TRIGGER users_changed ON users;
DROP FUNCTION cc_notify_changed();
