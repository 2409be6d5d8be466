//! Insert, read back, update and delete each kind of record.

use super::*;

async fn users_round_trip_through_insert_update_and_delete(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    insert_users(&store, &[&ada]).await;

    assert_eq!(
        store.get_user(ada.id).await.expect("get"),
        Some(ada.clone())
    );
    assert_eq!(
        store.get_user_by_username("ada").await.expect("by name"),
        Some(ada.clone())
    );
    assert_eq!(
        store.get_user_by_username("nobody").await.expect("by name"),
        None
    );

    let changed = User {
        grade: Some(10),
        email: None,
        status: UserStatus::Active,
        version: 2,
        updated_at: now(),
        ..ada.clone()
    };
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.get_user(ada.id).await.expect("tx get"),
        Some(ada.clone())
    );
    tx.update_user(&changed).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(store.get_user(ada.id).await.expect("get"), Some(changed));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_user(ada.id).await.expect("delete"));
    assert!(!tx.delete_user(ada.id).await.expect("delete again"));
    tx.commit().await.expect("commit");
    assert_eq!(store.get_user(ada.id).await.expect("get"), None);
}

async fn groups_round_trip_through_insert_update_and_delete(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let g = group("algebra-2");
    insert_groups(&store, &[&g]).await;
    assert_eq!(store.get_group(g.id).await.expect("get"), Some(g.clone()));
    assert_eq!(
        store.get_group_by_name("algebra-2").await.expect("by name"),
        Some(g.clone())
    );

    let changed = Group {
        display_name: "Algebra II".into(),
        description: Some("Period 3".into()),
        school: None,
        version: 2,
        updated_at: now(),
        ..g.clone()
    };
    let mut tx = store.begin().await.expect("begin");
    tx.update_group(&changed).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(store.get_group(g.id).await.expect("get"), Some(changed));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_group(g.id).await.expect("delete"));
    assert!(!tx.delete_group(g.id).await.expect("delete again"));
    tx.commit().await.expect("commit");
    assert_eq!(store.get_group(g.id).await.expect("get"), None);
}

async fn devices_round_trip_through_insert_update_and_delete(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let owner = user("ada");
    insert_users(&store, &[&owner]).await;
    let d = Device {
        assigned_user_id: Some(owner.id),
        last_check_in_at: Some(now()),
        compliance: Compliance::Noncompliant,
        ..device("SN-1")
    };
    insert_devices(&store, &[&d]).await;
    assert_eq!(store.get_device(d.id).await.expect("get"), Some(d.clone()));

    let changed = Device {
        facts: json!({"disk_encryption": false, "apps": ["zoom", "chrome"], "ratio": 0.25}),
        assigned_user_id: None,
        compliance: Compliance::Compliant,
        version: 2,
        updated_at: now(),
        ..d.clone()
    };
    let mut tx = store.begin().await.expect("begin");
    tx.update_device(&changed).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(store.get_device(d.id).await.expect("get"), Some(changed));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_device(d.id).await.expect("delete"));
    assert!(!tx.delete_device(d.id).await.expect("delete again"));
    tx.commit().await.expect("commit");
    assert_eq!(store.get_device(d.id).await.expect("get"), None);
}

async fn policies_round_trip_through_insert_update_and_delete(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let p = policy("disk-encryption");
    insert_policies(&store, &[&p]).await;
    assert_eq!(store.get_policy(p.id).await.expect("get"), Some(p.clone()));

    let changed = Policy {
        enabled: false,
        platforms: vec![],
        rule: PolicyRule(
            json!({"all": [{"fact": "a", "op": "exists"}, {"not": {"fact": "b", "op": "gt", "value": 3}}]}),
        ),
        remediation: None,
        version: 2,
        updated_at: now(),
        ..p.clone()
    };
    let mut tx = store.begin().await.expect("begin");
    tx.update_policy(&changed).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(store.get_policy(p.id).await.expect("get"), Some(changed));

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_policy(p.id).await.expect("delete"));
    assert!(!tx.delete_policy(p.id).await.expect("delete again"));
    tx.commit().await.expect("commit");
    assert_eq!(store.get_policy(p.id).await.expect("get"), None);
}

backend_tests!(
    users_round_trip_through_insert_update_and_delete,
    groups_round_trip_through_insert_update_and_delete,
    devices_round_trip_through_insert_update_and_delete,
    policies_round_trip_through_insert_update_and_delete,
);
