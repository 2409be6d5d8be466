//! The access-token keyring: from configuration, or generated once and kept in the database so
//! that restarts and replicas agree.

use std::sync::Arc;

use cc_auth::{Keyring, SigningKey};
use cc_store::Store;
use tokio::sync::OnceCell;

use crate::ServiceError;

#[derive(Clone)]
pub(super) struct Keys {
    cell: Arc<OnceCell<Keyring>>,
}

impl Keys {
    pub(super) fn new(spec: &str) -> Result<Self, ServiceError> {
        let cell = Arc::new(OnceCell::new());
        if !spec.trim().is_empty() {
            let ring = Keyring::parse(spec).map_err(|e| {
                ServiceError::Validation(cc_domain::ValidationErrors::single(
                    "auth.signing_keys",
                    e.to_string(),
                ))
            })?;
            let _ = cell.set(ring);
        }
        Ok(Self { cell })
    }

    /// The keyring, loading or generating the stored key on first use.
    pub(super) async fn get(&self, store: &dyn Store) -> Result<&Keyring, ServiceError> {
        self.cell.get_or_try_init(|| load_or_generate(store)).await
    }
}

async fn load_or_generate(store: &dyn Store) -> Result<Keyring, ServiceError> {
    let mut stored = store.auth().signing_keys().await?;
    if stored.is_empty() {
        let kid = format!("db-{}", &cc_auth::secret::random_b64(6));
        let secret = cc_auth::secret::random_b64(48);
        let mut tx = store.begin().await?;
        tx.auth()
            .insert_signing_key(&kid, &secret, cc_domain::now())
            .await?;
        tx.commit().await?;
        tracing::info!(
            kid,
            "generated an access-token signing key and stored it in the database"
        );
        // Another replica may have raced us: everyone signs with the oldest stored key.
        stored = store.auth().signing_keys().await?;
    }
    let keys = stored
        .into_iter()
        .map(|(kid, secret)| SigningKey::new(kid, secret.into_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::Internal(format!("stored signing key: {e}")))?;
    Keyring::new(keys).map_err(|e| ServiceError::Internal(e.to_string()))
}
