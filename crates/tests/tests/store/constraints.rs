//! Unique constraints, versioned updates and rollback.

use super::*;

async fn unique_violations_name_the_field(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let g = group("algebra-2");
    let d = device("SN-1");
    let p = policy("disk-encryption");
    insert_users(&store, &[&ada]).await;
    insert_groups(&store, &[&g]).await;
    insert_devices(&store, &[&d]).await;
    insert_policies(&store, &[&p]).await;

    let users = [
        (
            "username",
            User {
                id: new_id(),
                external_id: None,
                email: None,
                ..ada.clone()
            },
        ),
        (
            "email",
            User {
                id: new_id(),
                external_id: None,
                username: "ada2".into(),
                ..ada.clone()
            },
        ),
        (
            "external_id",
            User {
                id: new_id(),
                email: None,
                username: "ada3".into(),
                ..ada.clone()
            },
        ),
    ];
    for (field, dup) in users {
        let mut tx = store.begin().await.expect("begin");
        let err = tx.insert_user(&dup).await.expect_err(field);
        assert_conflict_on(&err, field);
    }

    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .insert_group(&Group {
            id: new_id(),
            ..g.clone()
        })
        .await
        .expect_err("group name");
    assert_conflict_on(&err, "name");
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    let mut tagged = group("tagged");
    tagged.external_id = Some("CLS-1".into());
    tx.insert_group(&tagged).await.expect("insert tagged group");
    let mut same_tag = group("also-tagged");
    same_tag.external_id = Some("CLS-1".into());
    let err = tx
        .insert_group(&same_tag)
        .await
        .expect_err("group external id");
    assert_conflict_on(&err, "external_id");
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .insert_device(&Device {
            id: new_id(),
            ..d.clone()
        })
        .await
        .expect_err("serial number");
    assert_conflict_on(&err, "serial_number");
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .insert_policy(&Policy {
            id: new_id(),
            ..p.clone()
        })
        .await
        .expect_err("policy name");
    assert_conflict_on(&err, "name");
}

async fn updates_that_take_a_unique_value_are_conflicts_too(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let ben = user("ben");
    insert_users(&store, &[&ada, &ben]).await;
    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .update_user(&User {
            email: ada.email.clone(),
            version: 2,
            ..ben.clone()
        })
        .await
        .expect_err("email taken");
    assert_conflict_on(&err, "email");
}

async fn an_update_with_a_stale_version_is_a_version_conflict(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let g = group("algebra-2");
    let d = device("SN-1");
    let p = policy("disk-encryption");
    insert_users(&store, &[&ada]).await;
    insert_groups(&store, &[&g]).await;
    insert_devices(&store, &[&d]).await;
    insert_policies(&store, &[&p]).await;

    // The next version is current + 1; the same version or a jump are both stale.
    for version in [1, 3] {
        let mut tx = store.begin().await.expect("begin");
        let u = tx
            .update_user(&User {
                version,
                grade: Some(11),
                ..ada.clone()
            })
            .await;
        assert!(
            matches!(u, Err(StoreError::VersionConflict)),
            "user v{version}: {u:?}"
        );
        let g2 = tx
            .update_group(&Group {
                version,
                ..g.clone()
            })
            .await;
        assert!(
            matches!(g2, Err(StoreError::VersionConflict)),
            "group v{version}: {g2:?}"
        );
        let d2 = tx
            .update_device(&Device {
                version,
                ..d.clone()
            })
            .await;
        assert!(
            matches!(d2, Err(StoreError::VersionConflict)),
            "device v{version}: {d2:?}"
        );
        let p2 = tx
            .update_policy(&Policy {
                version,
                ..p.clone()
            })
            .await;
        assert!(
            matches!(p2, Err(StoreError::VersionConflict)),
            "policy v{version}: {p2:?}"
        );
    }
    let mut tx = store.begin().await.expect("begin");
    let missing = tx
        .update_user(&User {
            id: new_id(),
            version: 2,
            ..ada.clone()
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::VersionConflict)),
        "{missing:?}"
    );
    drop(tx);
    assert_eq!(store.get_user(ada.id).await.expect("get"), Some(ada));
}

async fn a_dropped_transaction_leaves_no_row_and_no_audit_event(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let g = group("algebra-2");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_user(&ada).await.expect("insert user");
    tx.insert_group(&g).await.expect("insert group");
    tx.add_member(g.id, ada.id).await.expect("add member");
    tx.append_audit(event("user.create", "ada"))
        .await
        .expect("append");
    drop(tx);

    assert_eq!(store.get_user(ada.id).await.expect("get"), None);
    assert_eq!(store.get_group(g.id).await.expect("get"), None);
    assert_eq!(
        store.audit_head().await.expect("head"),
        (0, GENESIS_HASH.to_owned())
    );
    assert!(store.audit_after(0, 10).await.expect("events").is_empty());

    // The writer is free again, and the next event takes the sequence number the dropped one had.
    let events = append(&store, vec![event("user.create", "ben")]).await;
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].prev_hash, GENESIS_HASH);
}

async fn a_failed_statement_inside_a_transaction_commits_nothing(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    insert_users(&store, &[&ada]).await;
    let ben = user("ben");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_user(&ben).await.expect("insert ben");
    tx.append_audit(event("user.create", "ben"))
        .await
        .expect("append");
    let dup = User {
        id: new_id(),
        email: None,
        external_id: None,
        ..ada.clone()
    };
    assert!(tx.insert_user(&dup).await.is_err());
    drop(tx);
    assert_eq!(store.get_user(ben.id).await.expect("get"), None);
    assert_eq!(store.audit_head().await.expect("head").0, 0);
}

backend_tests!(
    unique_violations_name_the_field,
    updates_that_take_a_unique_value_are_conflicts_too,
    an_update_with_a_stale_version_is_a_version_conflict,
    a_dropped_transaction_leaves_no_row_and_no_audit_event,
    a_failed_statement_inside_a_transaction_commits_nothing,
);
