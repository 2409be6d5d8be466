-- Back to the enterprise extension alone (core attributes kept as sent are dropped).
UPDATE user_sources
SET scim_attributes = COALESCE(scim_attributes -> 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', '{}'::jsonb);
