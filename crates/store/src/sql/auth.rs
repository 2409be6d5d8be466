//! Operators and credentials for both backends; a module of each backend, using its `Db`,
//! `Store`, `BackendTx` and `FOR_UPDATE`. Paths are spelled out to keep this file's names from
//! colliding with the backend's.

use uuid::Uuid;

use super::shared::expect_one;
use super::*;

const OPERATOR_COLUMNS: &str =
    "id, username, role, disabled, last_login_at, password_changed_at, version, created_at, updated_at";

const TOKEN_COLUMNS: &str =
    "id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at";

#[derive(sqlx::FromRow)]
struct OperatorRow {
    id: Uuid,
    username: String,
    role: String,
    disabled: bool,
    last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    password_changed_at: chrono::DateTime<chrono::Utc>,
    version: i64,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<OperatorRow> for cc_domain::Operator {
    type Error = StoreError;
    fn try_from(r: OperatorRow) -> Result<Self> {
        Ok(cc_domain::Operator {
            id: r.id,
            username: r.username,
            role: r.role.parse().map_err(StoreError::Internal)?,
            disabled: r.disabled,
            last_login_at: r.last_login_at,
            password_changed_at: r.password_changed_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    id: Uuid,
    name: String,
    role: String,
    created_by: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TryFrom<ApiTokenRow> for cc_domain::ApiToken {
    type Error = StoreError;
    fn try_from(r: ApiTokenRow) -> Result<Self> {
        Ok(cc_domain::ApiToken {
            id: r.id,
            name: r.name,
            role: r.role.parse().map_err(StoreError::Internal)?,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    operator_id: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<SessionRow> for crate::auth::Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            operator_id: r.operator_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    issuer: String,
    subject: String,
    operator_id: Uuid,
    provider: String,
    created_at: chrono::DateTime<chrono::Utc>,
    last_login_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<IdentityRow> for crate::auth::OperatorIdentity {
    fn from(r: IdentityRow) -> Self {
        Self {
            issuer: r.issuer,
            subject: r.subject,
            operator_id: r.operator_id,
            provider: r.provider,
            created_at: r.created_at,
            last_login_at: r.last_login_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LoginStateRow {
    state_hash: String,
    provider: String,
    nonce: String,
    pkce_verifier: String,
    redirect_uri: String,
    return_to: String,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<LoginStateRow> for crate::auth::LoginState {
    fn from(r: LoginStateRow) -> Self {
        Self {
            state_hash: r.state_hash,
            provider: r.provider,
            nonce: r.nonce,
            pkce_verifier: r.pkce_verifier,
            redirect_uri: r.redirect_uri,
            return_to: r.return_to,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    key: String,
    label: String,
    failures: i32,
    first_failure_at: chrono::DateTime<chrono::Utc>,
    last_failure_at: chrono::DateTime<chrono::Utc>,
    locked_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ThrottleRow> for crate::auth::Throttle {
    fn from(r: ThrottleRow) -> Self {
        Self {
            key: r.key,
            label: r.label,
            failures: r.failures,
            first_failure_at: r.first_failure_at,
            last_failure_at: r.last_failure_at,
            locked_until: r.locked_until,
        }
    }
}

#[async_trait::async_trait]
impl crate::auth::AuthStore for Store {
    async fn count_operators(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM operators")
            .fetch_one(self.reader())
            .await?)
    }

    async fn list_operators(&self) -> Result<Vec<cc_domain::Operator>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY username");
        let rows: Vec<OperatorRow> = sqlx::query_as(&sql).fetch_all(self.reader()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_operator(&self, id: Uuid) -> Result<Option<cc_domain::Operator>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1");
        let row: Option<OperatorRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn get_operator_by_name(&self, username: &str) -> Result<Option<cc_domain::Operator>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE username = $1");
        let row: Option<OperatorRow> = sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(self.reader())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn operator_credentials(
        &self,
        username: &str,
    ) -> Result<Option<(cc_domain::Operator, String)>> {
        let Some(op) = crate::auth::AuthStore::get_operator_by_name(self, username).await? else {
            return Ok(None);
        };
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM operators WHERE id = $1")
            .bind(op.id)
            .fetch_one(self.reader())
            .await?;
        Ok(Some((op, hash)))
    }

    async fn get_session(&self, id: Uuid) -> Result<Option<crate::auth::Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, operator_id, created_at, expires_at, revoked_at FROM auth_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn get_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<crate::auth::OperatorIdentity>> {
        let row: Option<IdentityRow> = sqlx::query_as(
            "SELECT issuer, subject, operator_id, provider, created_at, last_login_at \
             FROM operator_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn api_token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<(cc_domain::ApiToken, cc_domain::Operator)>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let row: Option<ApiTokenRow> = sqlx::query_as(&sql)
            .bind(hash)
            .fetch_optional(self.reader())
            .await?;
        let Some(token) = row.map(cc_domain::ApiToken::try_from).transpose()? else {
            return Ok(None);
        };
        let creator = crate::auth::AuthStore::get_operator(self, token.created_by)
            .await?
            .ok_or_else(|| StoreError::Internal("API token without its creator".into()))?;
        Ok(Some((token, creator)))
    }

    async fn list_api_tokens(&self) -> Result<Vec<cc_domain::ApiToken>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC, id DESC");
        let rows: Vec<ApiTokenRow> = sqlx::query_as(&sql).fetch_all(self.reader()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn get_api_token(&self, id: Uuid) -> Result<Option<cc_domain::ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
        let row: Option<ApiTokenRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn touch_api_token(&self, id: Uuid, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT kid, secret FROM signing_keys ORDER BY created_at, kid")
                .fetch_all(self.reader())
                .await?,
        )
    }

    async fn locked_throttles(&self) -> Result<Vec<crate::auth::Throttle>> {
        let rows: Vec<ThrottleRow> = sqlx::query_as(
            "SELECT key, label, failures, first_failure_at, last_failure_at, locked_until FROM login_throttle \
             WHERE locked_until IS NOT NULL",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn prune_throttles(
        &self,
        failures_before: chrono::DateTime<chrono::Utc>,
        known_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "DELETE FROM login_throttle WHERE locked_until IS NULL AND CASE \
             WHEN substr(key, 1, 6) = 'known:' THEN last_failure_at < $2 \
             ELSE last_failure_at < $1 END",
        )
        .bind(failures_before)
        .bind(known_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }
}

#[async_trait::async_trait]
impl crate::auth::AuthTx for BackendTx {
    async fn get_operator(&mut self, id: Uuid) -> Result<Option<cc_domain::Operator>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1{FOR_UPDATE}");
        let row: Option<OperatorRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn insert_operator(
        &mut self,
        op: &cc_domain::Operator,
        password_hash: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO operators (id, username, password_hash, role, disabled, last_login_at, password_changed_at, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(op.id)
        .bind(&op.username)
        .bind(password_hash)
        .bind(op.role.as_str())
        .bind(op.disabled)
        .bind(op.last_login_at)
        .bind(op.password_changed_at)
        .bind(op.version)
        .bind(op.created_at)
        .bind(op.updated_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_operator(&mut self, op: &cc_domain::Operator) -> Result<()> {
        let r = sqlx::query(
            "UPDATE operators SET role = $2, disabled = $3, version = $4, updated_at = $5 \
             WHERE id = $1 AND version = $4 - 1",
        )
        .bind(op.id)
        .bind(op.role.as_str())
        .bind(op.disabled)
        .bind(op.version)
        .bind(op.updated_at)
        .execute(&mut *self.0)
        .await?;
        expect_one(r)
    }

    async fn set_password(
        &mut self,
        id: Uuid,
        password_hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE operators SET password_hash = $2, password_changed_at = $3, updated_at = $3, version = version + 1 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn record_login(&mut self, id: Uuid, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        sqlx::query("UPDATE operators SET last_login_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn count_enabled_admins(&mut self) -> Result<i64> {
        let sql = format!("SELECT id FROM operators WHERE role = 'admin' AND disabled = $1 ORDER BY id{FOR_UPDATE}");
        let ids: Vec<Uuid> = sqlx::query_scalar(&sql)
            .bind(false)
            .fetch_all(&mut *self.0)
            .await?;
        Ok(i64::try_from(ids.len()).unwrap_or(i64::MAX))
    }

    async fn insert_session(&mut self, s: &crate::auth::Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_sessions (id, operator_id, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.id)
        .bind(s.operator_id)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.revoked_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn revoke_session(
        &mut self,
        id: Uuid,
        reason: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .bind(reason)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_operator_sessions(
        &mut self,
        operator_id: Uuid,
        reason: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE auth_sessions SET revoked_at = $2, revoked_reason = $3 WHERE operator_id = $1 AND revoked_at IS NULL",
        )
        .bind(operator_id)
        .bind(at)
        .bind(reason)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected())
    }

    async fn insert_refresh_token(
        &mut self,
        hash: &str,
        t: &crate::auth::RefreshToken,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash)
        .bind(t.session_id)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.used_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn get_refresh_token(&mut self, hash: &str) -> Result<Option<crate::auth::RefreshToken>> {
        let sql = format!(
            "SELECT session_id, created_at, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1{FOR_UPDATE}"
        );
        let row: Option<(
            Uuid,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
            Option<chrono::DateTime<chrono::Utc>>,
        )> = sqlx::query_as(&sql)
            .bind(hash)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(
            |(session_id, created_at, expires_at, used_at)| crate::auth::RefreshToken {
                session_id,
                created_at,
                expires_at,
                used_at,
            },
        ))
    }

    async fn use_refresh_token(
        &mut self,
        hash: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
        )
        .bind(hash)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_api_token(&mut self, t: &cc_domain::ApiToken, hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, role, created_by, created_at, expires_at, revoked_at, \
             last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id)
        .bind(&t.name)
        .bind(hash)
        .bind(t.role.as_str())
        .bind(t.created_by)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .bind(t.last_used_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn revoke_api_token(
        &mut self,
        id: Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_operator_api_tokens(
        &mut self,
        operator_id: Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE created_by = $1 AND revoked_at IS NULL",
        )
        .bind(operator_id)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected())
    }

    async fn insert_signing_key(
        &mut self,
        kid: &str,
        secret: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(kid)
            .bind(secret)
            .bind(at)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn replace_signing_key(&mut self, kid: &str, old: &str, new: &str) -> Result<bool> {
        let r = sqlx::query("UPDATE signing_keys SET secret = $3 WHERE kid = $1 AND secret = $2")
            .bind(kid)
            .bind(old)
            .bind(new)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_identity(&mut self, i: &crate::auth::OperatorIdentity) -> Result<()> {
        sqlx::query(
            "INSERT INTO operator_identities (issuer, subject, operator_id, provider, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&i.issuer)
        .bind(&i.subject)
        .bind(i.operator_id)
        .bind(&i.provider)
        .bind(i.created_at)
        .bind(i.last_login_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn touch_identity(
        &mut self,
        issuer: &str,
        subject: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE operator_identities SET last_login_at = $3 WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn insert_login_state(&mut self, st: &crate::auth::LoginState) -> Result<()> {
        sqlx::query(
            "INSERT INTO oidc_login_states (state_hash, provider, nonce, pkce_verifier, redirect_uri, return_to, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&st.state_hash)
        .bind(&st.provider)
        .bind(&st.nonce)
        .bind(&st.pkce_verifier)
        .bind(&st.redirect_uri)
        .bind(&st.return_to)
        .bind(st.created_at)
        .bind(st.expires_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn take_login_state(
        &mut self,
        state_hash: &str,
    ) -> Result<Option<crate::auth::LoginState>> {
        let row: Option<LoginStateRow> = sqlx::query_as(
            "DELETE FROM oidc_login_states WHERE state_hash = $1 \
             RETURNING state_hash, provider, nonce, pkce_verifier, redirect_uri, return_to, created_at, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn prune_login_states(&mut self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM oidc_login_states WHERE expires_at < $1")
            .bind(before)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected())
    }

    async fn get_throttle(&mut self, key: &str) -> Result<Option<crate::auth::Throttle>> {
        let sql = format!(
            "SELECT key, label, failures, first_failure_at, last_failure_at, locked_until FROM login_throttle \
             WHERE key = $1{FOR_UPDATE}"
        );
        let row: Option<ThrottleRow> = sqlx::query_as(&sql)
            .bind(key)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn lock_throttle(
        &mut self,
        key: &str,
        label: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::auth::Throttle> {
        sqlx::query(
            "INSERT INTO login_throttle (key, label, failures, first_failure_at, last_failure_at, locked_until) \
             VALUES ($1, $2, 0, $3, $3, NULL) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(label)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        crate::auth::AuthTx::get_throttle(self, key)
            .await?
            .ok_or_else(|| {
                StoreError::Internal("login throttle row vanished under its lock".into())
            })
    }

    async fn delete_throttles_with_prefix(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<crate::auth::Throttle>> {
        let rows: Vec<ThrottleRow> = sqlx::query_as(
            "DELETE FROM login_throttle WHERE substr(key, 1, length($1)) = $1 \
             RETURNING key, label, failures, first_failure_at, last_failure_at, locked_until",
        )
        .bind(prefix)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn put_throttle(&mut self, t: &crate::auth::Throttle) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_throttle (key, label, failures, first_failure_at, last_failure_at, locked_until) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO UPDATE SET label = $2, failures = $3, \
             first_failure_at = $4, last_failure_at = $5, locked_until = $6",
        )
        .bind(&t.key)
        .bind(&t.label)
        .bind(t.failures)
        .bind(t.first_failure_at)
        .bind(t.last_failure_at)
        .bind(t.locked_until)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn delete_throttle(&mut self, key: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}
