DROP TABLE user_sources;

DELETE FROM api_tokens WHERE role = 'scim';
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('admin', 'operator', 'auditor'));
