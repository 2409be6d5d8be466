//! Reversible migrations and their status.

use super::*;

async fn migrations_go_down_and_up_again(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.open().await;

    let status = store.migration_status().await.expect("status");
    assert!(!status.is_current());
    assert_eq!(status.pending(), status.migrations.len());
    assert!(status.pending() >= 1);
    let known: Vec<i64> = status.migrations.iter().map(|m| m.0).collect();

    assert_eq!(store.migrate_up().await.expect("up"), known);
    let status = store.migration_status().await.expect("status");
    assert!(status.is_current());
    assert_eq!(status.pending(), 0);
    assert!(status.unknown_applied.is_empty());
    assert!(
        store.migrate_up().await.expect("up again").is_empty(),
        "nothing left to apply"
    );
    insert_users(&store, &[&user("ada")]).await;

    let mut newest_first = known.clone();
    newest_first.reverse();
    let all = u32::try_from(known.len()).expect("few migrations");
    assert_eq!(store.migrate_down(all).await.expect("down"), newest_first);
    let status = store.migration_status().await.expect("status");
    assert!(!status.is_current());
    assert_eq!(status.pending(), known.len());
    assert!(
        store.list_users(&user_query()).await.is_err(),
        "the directory tables are gone"
    );

    assert_eq!(store.migrate_up().await.expect("up"), known);
    assert!(store.migration_status().await.expect("status").is_current());
    assert!(store
        .list_users(&user_query())
        .await
        .expect("list")
        .items
        .is_empty());
    assert_eq!(
        store.audit_head().await.expect("head"),
        (0, GENESIS_HASH.to_owned())
    );
    insert_users(&store, &[&user("ada")]).await;
    store.ping().await.expect("ping");
}

backend_tests!(migrations_go_down_and_up_again,);
