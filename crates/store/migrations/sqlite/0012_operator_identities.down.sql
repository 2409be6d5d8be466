DROP TABLE oidc_login_states;
DROP TABLE operator_identities;
