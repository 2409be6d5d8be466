//! Group memberships and what deletes cascade to.

use super::*;

async fn set_user_groups_replaces_memberships(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let (a, b, c) = (group("a"), group("b"), group("c"));
    insert_users(&store, &[&ada]).await;
    insert_groups(&store, &[&a, &b, &c]).await;

    set_groups(&store, ada.id, &["b", "a"]).await;
    let read = store.get_user(ada.id).await.expect("get").expect("ada");
    assert_eq!(read.groups, ["a", "b"]);

    set_groups(&store, ada.id, &["b", "c"]).await;
    let read = store.get_user(ada.id).await.expect("get").expect("ada");
    assert_eq!(read.groups, ["b", "c"]);
    let count = |g: &Group| {
        let store = store.clone();
        let id = g.id;
        async move {
            store
                .get_group(id)
                .await
                .expect("get")
                .expect("group")
                .member_count
        }
    };
    assert_eq!(
        (count(&a).await, count(&b).await, count(&c).await),
        (0, 1, 1)
    );

    set_groups(&store, ada.id, &[]).await;
    let read = store.get_user(ada.id).await.expect("get").expect("ada");
    assert!(read.groups.is_empty());
}

async fn set_user_groups_with_an_unknown_group_is_invalid_and_changes_nothing(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let a = group("a");
    insert_users(&store, &[&ada]).await;
    insert_groups(&store, &[&a]).await;
    set_groups(&store, ada.id, &["a"]).await;

    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .set_user_groups(ada.id, &["a".into(), "no-such-group".into()])
        .await
        .expect_err("unknown group");
    match err {
        StoreError::Invalid(v) => {
            assert_eq!(v.0.len(), 1, "{v}");
            assert_eq!(v.0[0].field, "groups");
            assert!(v.0[0].message.contains("no-such-group"), "{v}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    drop(tx);
    let read = store.get_user(ada.id).await.expect("get").expect("ada");
    assert_eq!(read.groups, ["a"]);
}

async fn add_and_remove_member_are_idempotent(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let g = group("a");
    insert_users(&store, &[&ada]).await;
    insert_groups(&store, &[&g]).await;

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.add_member(g.id, ada.id).await.expect("add"));
    assert!(!tx.add_member(g.id, ada.id).await.expect("add again"));
    tx.commit().await.expect("commit");
    let read = store.get_group(g.id).await.expect("get").expect("group");
    assert_eq!(read.member_count, 1);

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.remove_member(g.id, ada.id).await.expect("remove"));
    assert!(!tx.remove_member(g.id, ada.id).await.expect("remove again"));
    tx.commit().await.expect("commit");
    let read = store.get_group(g.id).await.expect("get").expect("group");
    assert_eq!(read.member_count, 0);
}

async fn deleting_a_user_removes_memberships_and_unassigns_devices(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let ben = user("ben");
    let g = group("a");
    insert_users(&store, &[&ada, &ben]).await;
    insert_groups(&store, &[&g]).await;
    set_groups(&store, ada.id, &["a"]).await;
    set_groups(&store, ben.id, &["a"]).await;
    let laptop = Device {
        assigned_user_id: Some(ada.id),
        ..device("SN-1")
    };
    let other = Device {
        assigned_user_id: Some(ben.id),
        ..device("SN-2")
    };
    insert_devices(&store, &[&laptop, &other]).await;

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_user(ada.id).await.expect("delete"));
    tx.commit().await.expect("commit");

    let read = store.get_group(g.id).await.expect("get").expect("group");
    assert_eq!(read.member_count, 1);
    let members = store
        .group_members(g.id, &user_query())
        .await
        .expect("members");
    assert_eq!(usernames(&members), ["ben"]);
    let laptop = store
        .get_device(laptop.id)
        .await
        .expect("get")
        .expect("device");
    assert_eq!(
        laptop.assigned_user_id, None,
        "the device stays, unassigned"
    );
    let other = store
        .get_device(other.id)
        .await
        .expect("get")
        .expect("device");
    assert_eq!(other.assigned_user_id, Some(ben.id));
}

async fn deleting_a_group_removes_its_memberships(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let ada = user("ada");
    let (a, b) = (group("a"), group("b"));
    insert_users(&store, &[&ada]).await;
    insert_groups(&store, &[&a, &b]).await;
    set_groups(&store, ada.id, &["a", "b"]).await;

    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_group(a.id).await.expect("delete"));
    tx.commit().await.expect("commit");
    let read = store.get_user(ada.id).await.expect("get").expect("ada");
    assert_eq!(read.groups, ["b"]);
}

async fn a_device_cannot_be_assigned_to_an_unknown_user(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let d = Device {
        assigned_user_id: Some(new_id()),
        ..device("SN-1")
    };
    let mut tx = store.begin().await.expect("begin");
    match tx.insert_device(&d).await {
        Err(StoreError::Invalid(v)) => assert_eq!(v.0[0].field, "assigned_user_id"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

backend_tests!(
    set_user_groups_replaces_memberships,
    set_user_groups_with_an_unknown_group_is_invalid_and_changes_nothing,
    add_and_remove_member_are_idempotent,
    deleting_a_user_removes_memberships_and_unassigns_devices,
    deleting_a_group_removes_its_memberships,
    a_device_cannot_be_assigned_to_an_unknown_user,
);
