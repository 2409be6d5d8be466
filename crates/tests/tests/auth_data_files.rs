//! Who may read the SQLite database on disk: only the account running Command Center.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cc_domain::{new_id, now, Actor, NewAuditEvent};
use cc_store::PoolConfig;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn a_new_database_is_private_to_its_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let db = dir.join("command-center.db");
    let store = cc_store::connect(
        &format!("sqlite://{}", db.display()),
        &PoolConfig::default(),
    )
    .await
    .unwrap();
    store.migrate_up().await.unwrap();
    // A write, so that the WAL and the shared-memory index exist.
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(NewAuditEvent {
        actor: Actor::system("test").name,
        action: "test.write".into(),
        target_type: "test".into(),
        target_id: Some(new_id().to_string()),
        request_id: None,
        before: None,
        after: Some(serde_json::json!({"at": now()})),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(mode(&dir), 0o700, "data folder");
    assert_eq!(mode(&db), 0o600, "database file");
    for suffix in ["-wal", "-shm"] {
        let companion = dir.join(format!("command-center.db{suffix}"));
        assert!(companion.exists(), "{} exists", companion.display());
        assert_eq!(mode(&companion), 0o600, "{suffix}");
    }
    store.close().await;
}

#[tokio::test]
async fn a_database_other_users_can_read_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("cc.db");
    let url = format!("sqlite://{}", db.display());
    let store = cc_store::connect(&url, &PoolConfig::default())
        .await
        .unwrap();
    store.migrate_up().await.unwrap();
    store.close().await;

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = match cc_store::connect(&url, &PoolConfig::default()).await {
        Ok(_) => panic!("a world-readable database was opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("other local users"), "{err}");
    assert!(
        err.contains(&format!("chmod 600 '{}'", db.display())),
        "{err}"
    );
    assert_eq!(
        mode(&db),
        0o644,
        "left as it was: fixing it is the operator's call"
    );

    // After the fix it opens again.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let store = cc_store::connect(&url, &PoolConfig::default())
        .await
        .unwrap();
    store.close().await;
}
