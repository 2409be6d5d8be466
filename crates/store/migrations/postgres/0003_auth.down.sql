DROP TABLE login_throttle;
DROP TABLE signing_keys;
DROP TABLE api_tokens;
DROP TABLE refresh_tokens;
DROP TABLE auth_sessions;
DROP TABLE operators;
