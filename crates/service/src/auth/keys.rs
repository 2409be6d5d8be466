//! The access-token keyring: from configuration, or generated once and kept in the database so
//! that restarts and replicas agree.
//!
//! A generated key is stored sealed under the master key (`master_key`, kept outside the
//! database) when one is configured, and in clear otherwise. On loading, a key stored in
//! clear, or sealed under a master key that is no longer the first, is sealed again under the
//! first master key, so configuring or rotating the master key converts the stored keys.

use std::sync::Arc;

use cc_auth::{Keyring, Sealer, SigningKey};
use cc_store::Store;
use tokio::sync::OnceCell;

use crate::ServiceError;

/// What the stored form of a sealed key starts with (a generated secret is base64url, which
/// has no `:`).
const SEALED: &str = "sealed:";
/// What master-key derivations are for.
const PURPOSE: &str = "command-center/master/signing-keys/v1";

#[derive(Clone)]
pub(super) struct Keys {
    cell: Arc<OnceCell<Keyring>>,
    master: Option<Sealer>,
}

impl Keys {
    pub(super) fn new(spec: &str, master_spec: &str) -> Result<Self, ServiceError> {
        let invalid = |field: &str, e: cc_auth::JwtError| {
            ServiceError::Validation(cc_domain::ValidationErrors::single(field, e.to_string()))
        };
        let cell = Arc::new(OnceCell::new());
        if !spec.trim().is_empty() {
            let ring = Keyring::parse(spec).map_err(|e| invalid("auth.signing_keys", e))?;
            let _ = cell.set(ring);
        }
        let master = if master_spec.trim().is_empty() {
            None
        } else {
            let ring = Keyring::parse(master_spec).map_err(|e| invalid("master_key", e))?;
            Some(Sealer::for_purpose(&ring, PURPOSE))
        };
        Ok(Self { cell, master })
    }

    /// The keyring, loading or generating the stored key on first use.
    pub(super) async fn get(&self, store: &dyn Store) -> Result<&Keyring, ServiceError> {
        self.cell
            .get_or_try_init(|| load_or_generate(store, self.master.as_ref()))
            .await
    }
}

/// The additional data a stored key is sealed with: it opens only as the key it was.
fn context(kid: &str) -> String {
    format!("signing_keys/{kid}")
}

async fn load_or_generate(
    store: &dyn Store,
    master: Option<&Sealer>,
) -> Result<Keyring, ServiceError> {
    let mut stored = store.auth().signing_keys().await?;
    if stored.is_empty() {
        let kid = format!("db-{}", &cc_auth::secret::random_b64(6));
        let secret = cc_auth::secret::random_b64(48);
        let value = match master {
            Some(m) => format!("{SEALED}{}", m.seal(&secret, &context(&kid))),
            None => secret,
        };
        let mut tx = store.begin().await?;
        tx.auth()
            .insert_signing_key(&kid, &value, cc_domain::now())
            .await?;
        tx.commit().await?;
        tracing::info!(
            kid,
            sealed = master.is_some(),
            "generated an access-token signing key and stored it in the database"
        );
        // Another replica may have raced us: everyone signs with the oldest stored key.
        stored = store.auth().signing_keys().await?;
    }
    let mut keys = Vec::with_capacity(stored.len());
    for (kid, value) in stored {
        let secret = open_stored(&kid, &value, master)?;
        if let Some(m) = master {
            reseal_if_needed(store, m, &kid, &value, &secret).await?;
        }
        keys.push(
            SigningKey::new(kid, secret.into_bytes())
                .map_err(|e| ServiceError::Internal(format!("stored signing key: {e}")))?,
        );
    }
    Keyring::new(keys).map_err(|e| ServiceError::Internal(e.to_string()))
}

fn open_stored(kid: &str, value: &str, master: Option<&Sealer>) -> Result<String, ServiceError> {
    let Some(sealed) = value.strip_prefix(SEALED) else {
        return Ok(value.to_owned());
    };
    let Some(m) = master else {
        return Err(ServiceError::Internal(format!(
            "the stored signing key `{kid}` is sealed under a master key, and none is \
             configured: set master_key (CC_MASTER_KEY_FILE or CC_MASTER_KEY)"
        )));
    };
    m.open(sealed, &context(kid)).map_err(|e| {
        ServiceError::Internal(format!(
            "the stored signing key `{kid}` does not open with the configured master key: {e}"
        ))
    })
}

/// Seals a key stored in clear, or under an older master key, under the first master key.
async fn reseal_if_needed(
    store: &dyn Store,
    master: &Sealer,
    kid: &str,
    value: &str,
    secret: &str,
) -> Result<(), ServiceError> {
    let current = value
        .strip_prefix(SEALED)
        .and_then(Sealer::kid_of)
        .is_some_and(|k| k == master.sealing_kid());
    if current {
        return Ok(());
    }
    let sealed = format!("{SEALED}{}", master.seal(secret, &context(kid)));
    let mut tx = store.begin().await?;
    let replaced = tx.auth().replace_signing_key(kid, value, &sealed).await?;
    tx.commit().await?;
    if replaced {
        tracing::info!(
            kid,
            master_kid = master.sealing_kid(),
            "sealed the stored signing key under the master key"
        );
    }
    Ok(())
}
