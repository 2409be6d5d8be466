//! Generated signing keys at rest: sealed under the master key (kept outside the database)
//! when one is configured, converted from clear when it is added, and re-sealed when it rotates.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use cc_service::{Auth, AuthSettings};
use cc_store::Store;
use cc_tests::{backend_tests, test_config, Backend, TestApp, TestDb};

const M1: &str = "m1:first-master-key-0123456789abcdef0123456789";
const M2: &str = "m2:second-master-key-0123456789abcdef012345678";

async fn stored_key(store: &dyn Store) -> (String, String) {
    let keys = store.auth().signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "one generated key");
    keys.into_iter().next().unwrap()
}

fn auth_with_master(store: &Arc<dyn Store>, master_key: &str) -> Auth {
    Auth::new(
        store.clone(),
        AuthSettings {
            master_key: master_key.into(),
            ..AuthSettings::default()
        },
    )
    .unwrap()
}

async fn a_generated_key_is_never_stored_in_clear(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let auth = auth_with_master(&store, M1);
    auth.load_keys().await.unwrap();
    let (_, value) = stored_key(store.as_ref()).await;
    assert!(value.starts_with("sealed:v1.m1."), "{value}");
    // Sealing works with it, and a second replica with the same master key agrees.
    let sealed = auth.sealer().await.unwrap().seal("temporary pw", "ctx");
    let replica = auth_with_master(&store, M1);
    assert_eq!(
        replica
            .sealer()
            .await
            .unwrap()
            .open(&sealed, "ctx")
            .unwrap(),
        "temporary pw"
    );
    store.close().await;
}

async fn a_clear_key_is_sealed_when_a_master_key_is_added_and_follows_its_rotation(
    backend: Backend,
) {
    let mut config = test_config();
    config.auth.master_key = M1.into();
    // The harness stores a key in clear, as a server without a master key did.
    let app = TestApp::spawn_with(backend, config, None).await;
    let (kid, clear) = stored_key(app.store.as_ref()).await;
    assert!(!clear.starts_with("sealed:"));
    // The first use seals it, and the tokens it signed still work.
    assert!(app.client.me().await.is_ok());
    let (_, value) = stored_key(app.store.as_ref()).await;
    assert!(value.starts_with("sealed:v1.m1."), "{value}");
    assert!(!value.contains(&clear), "{value}");
    let sealed = app.auth.sealer().await.unwrap().seal("pending", "job-1");

    // Without the master key the stored key cannot be used: a clear error, not a new key.
    let plain = Auth::new(app.store.clone(), AuthSettings::default()).unwrap();
    let err = plain.load_keys().await.unwrap_err().to_string();
    assert!(err.contains("master_key") && err.contains(&kid), "{err}");
    assert_eq!(app.store.auth().signing_keys().await.unwrap().len(), 1);

    // Rotation: the new master key first, the old one after it; the key is sealed again
    // under the new one, after which the old one can go.
    auth_with_master(&app.store, &format!("{M2},{M1}"))
        .load_keys()
        .await
        .unwrap();
    let (_, value) = stored_key(app.store.as_ref()).await;
    assert!(value.starts_with("sealed:v1.m2."), "{value}");
    let only_new = auth_with_master(&app.store, M2);
    assert_eq!(only_new.load_keys().await.unwrap(), [kid]);
    assert_eq!(
        only_new
            .sealer()
            .await
            .unwrap()
            .open(&sealed, "job-1")
            .unwrap(),
        "pending"
    );
    let wrong = auth_with_master(&app.store, M1);
    let err = wrong.load_keys().await.unwrap_err().to_string();
    assert!(err.contains("does not open"), "{err}");
    app.stop().await;
}

backend_tests!(
    a_generated_key_is_never_stored_in_clear,
    a_clear_key_is_sealed_when_a_master_key_is_added_and_follows_its_rotation,
);
