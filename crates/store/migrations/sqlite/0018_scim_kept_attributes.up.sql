-- What a SCIM client wrote beyond the directory's columns is kept keyed as on the wire: the
-- enterprise extension under its schema URI, next to core attributes kept as sent (userType,
-- emails). Until now the column held the enterprise extension alone.
UPDATE user_sources
SET scim_attributes = json_object('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', json(scim_attributes))
WHERE scim_attributes <> '{}';
