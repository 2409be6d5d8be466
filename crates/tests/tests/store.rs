//! Backend conformance: the `Store` and `Tx` contract, run against SQLite and PostgreSQL alike.
//!
//! Every test here talks to the storage traits directly (no service, no HTTP) except where it
//! says otherwise, so a difference between the two backends shows up as a failing test.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use cc_domain::audit::GENESIS_HASH;
use cc_domain::user::UserSort;
use cc_domain::{
    new_id, now, Actor, AuditEvent, AuditQuery, Compliance, Cursor, Device, DeviceQuery, Group,
    GroupKind, GroupQuery, NewAuditEvent, NewDevice, NewGroup, NewPolicy, Page, Platform, Policy,
    PolicyCategory, PolicyQuery, PolicyRule, Role, SortDir, User, UserQuery, UserStatus,
};
use cc_store::{Store, StoreError};
use cc_tests::{backend_tests, student, Backend, TestDb};
use serde_json::json;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fresh, migrated store. Keep the `TestDb` alive for as long as the store is used.
async fn fresh(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    (db, store)
}

fn user(username: &str) -> User {
    student(username)
        .into_user(new_id(), now())
        .expect("valid user")
}

fn staff(username: &str, role: Role) -> User {
    cc_domain::NewUser {
        role,
        grade: None,
        ..student(username)
    }
    .into_user(new_id(), now())
    .expect("valid staff member")
}

fn group(name: &str) -> Group {
    NewGroup {
        name: name.into(),
        kind: GroupKind::Class,
        school: Some("lincoln-hs".into()),
        ..NewGroup::default()
    }
    .into_group(new_id(), now())
    .expect("valid group")
}

fn device(serial: &str) -> Device {
    NewDevice {
        serial_number: serial.into(),
        name: Some(format!("LAB-{serial}")),
        platform: Platform::Windows,
        model: Some("ProBook 450".into()),
        os_version: Some("10.0.22631".into()),
        facts: Some(json!({"disk_encryption": true, "battery": {"health": 81}})),
        ..NewDevice::default()
    }
    .into_device(new_id(), now())
    .expect("valid device")
}

fn policy(name: &str) -> Policy {
    NewPolicy {
        name: name.into(),
        description: Some(format!("{name} description")),
        category: PolicyCategory::Security,
        platforms: vec![Platform::Windows, Platform::Macos],
        rule: PolicyRule(json!({"fact": "disk_encryption", "op": "eq", "value": true})),
        severity: cc_domain::Severity::High,
        enabled: Some(true),
        remediation: Some("Turn on disk encryption.".into()),
    }
    .into_policy(new_id(), now())
    .expect("valid policy")
}

fn event(action: &str, target_id: &str) -> NewAuditEvent {
    NewAuditEvent {
        actor: "operator:admin".into(),
        action: action.into(),
        target_type: action.split('.').next().unwrap_or("x").into(),
        target_id: Some(target_id.into()),
        request_id: None,
        before: None,
        after: Some(json!({"n": target_id})),
    }
}

async fn insert_users(store: &Arc<dyn Store>, users: &[&User]) {
    let mut tx = store.begin().await.expect("begin");
    for u in users {
        tx.insert_user(u).await.expect("insert user");
    }
    tx.commit().await.expect("commit");
}

async fn insert_groups(store: &Arc<dyn Store>, groups: &[&Group]) {
    let mut tx = store.begin().await.expect("begin");
    for g in groups {
        tx.insert_group(g).await.expect("insert group");
    }
    tx.commit().await.expect("commit");
}

async fn insert_devices(store: &Arc<dyn Store>, devices: &[&Device]) {
    let mut tx = store.begin().await.expect("begin");
    for d in devices {
        tx.insert_device(d).await.expect("insert device");
    }
    tx.commit().await.expect("commit");
}

async fn insert_policies(store: &Arc<dyn Store>, policies: &[&Policy]) {
    let mut tx = store.begin().await.expect("begin");
    for p in policies {
        tx.insert_policy(p).await.expect("insert policy");
    }
    tx.commit().await.expect("commit");
}

async fn set_groups(store: &Arc<dyn Store>, user_id: Uuid, names: &[&str]) {
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut tx = store.begin().await.expect("begin");
    tx.set_user_groups(user_id, &names)
        .await
        .expect("set groups");
    tx.commit().await.expect("commit");
}

/// Appends events, one transaction each, and returns them as sealed.
async fn append(store: &Arc<dyn Store>, events: Vec<NewAuditEvent>) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    for e in events {
        let mut tx = store.begin().await.expect("begin");
        out.push(tx.append_audit(e).await.expect("append"));
        tx.commit().await.expect("commit");
    }
    out
}

fn assert_conflict_on(err: &StoreError, field: &str) {
    match err {
        StoreError::Conflict { field: f } => assert_eq!(f, field, "conflict names the field"),
        other => panic!("expected a conflict on {field}, got {other:?}"),
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn usernames(page: &Page<User>) -> Vec<String> {
    sorted(page.items.iter().map(|u| u.username.clone()).collect())
}

fn user_query() -> UserQuery {
    UserQuery {
        limit: 100,
        ..UserQuery::default()
    }
}

/// Follows `next_cursor` from the first page to the last and returns every page. The fetch
/// function gets the decoded cursor for the next page (`None` for the first).
async fn all_pages<T, F, Fut>(cursor_kind: &str, mut fetch: F) -> Vec<Vec<T>>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = Page<T>>,
{
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(cursor).await;
        pages.push(page.items);
        match page.next_cursor {
            Some(c) => {
                cursor = Some(Cursor::decode(&c, cursor_kind).expect("the store's own cursor"));
            }
            None => return pages,
        }
        assert!(pages.len() <= 100, "pagination does not terminate");
    }
}

/// Checks that the pages visit `expected` in order, each item once, `limit` at a time.
fn assert_pages_visit(pages: &[Vec<Uuid>], expected: &[Uuid], limit: usize, what: &str) {
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    let mut want_sizes = vec![limit; expected.len() / limit];
    let rest = expected.len() % limit;
    if rest > 0 {
        want_sizes.push(rest);
    }
    assert_eq!(sizes, want_sizes, "{what}: page sizes");
    let flat: Vec<Uuid> = pages.concat();
    let distinct: HashSet<&Uuid> = flat.iter().collect();
    assert_eq!(distinct.len(), flat.len(), "{what}: an item appeared twice");
    assert_eq!(flat, expected, "{what}: order across pages");
}

// The tests, by topic; each file runs its tests on both backends.
#[path = "store/audit.rs"]
mod audit;
#[path = "store/concurrency.rs"]
mod concurrency;
#[path = "store/constraints.rs"]
mod constraints;
#[path = "store/crud.rs"]
mod crud;
#[path = "store/filters.rs"]
mod filters;
#[path = "store/memberships.rs"]
mod memberships;
#[path = "store/migrations.rs"]
mod migrations;
#[path = "store/notices.rs"]
mod notices;
#[path = "store/pagination.rs"]
mod pagination;
#[path = "store/search.rs"]
mod search;
