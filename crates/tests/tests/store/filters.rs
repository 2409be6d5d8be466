//! Every list filter, on every kind of record. Each check names the records a query returns.

use super::*;

/// ada (9, lincoln, active, class-a), ben (10, roosevelt, pending, class-a + class-b),
/// cy (10, lincoln, suspended), dee (teacher, lincoln, active, class-b),
/// eve (administrator, roosevelt, active). Returns class-b.
async fn five_people_in_two_classes(store: &Arc<dyn Store>) -> Group {
    let mut ada = user("ada");
    ada.status = UserStatus::Active;
    let mut ben = user("ben");
    ben.grade = Some(10);
    ben.school = Some("roosevelt-hs".into());
    let mut cy = user("cy");
    cy.grade = Some(10);
    cy.status = UserStatus::Suspended;
    let mut dee = staff("dee", Role::Teacher);
    dee.status = UserStatus::Active;
    let mut eve = staff("eve", Role::Administrator);
    eve.status = UserStatus::Active;
    eve.school = Some("roosevelt-hs".into());
    insert_users(store, &[&ada, &ben, &cy, &dee, &eve]).await;
    let (a, b) = (group("class-a"), group("class-b"));
    insert_groups(store, &[&a, &b]).await;
    set_groups(store, ada.id, &["class-a"]).await;
    set_groups(store, ben.id, &["class-a", "class-b"]).await;
    set_groups(store, dee.id, &["class-b"]).await;
    b
}

async fn users_where(store: &Arc<dyn Store>, set: impl FnOnce(&mut UserQuery)) -> Vec<String> {
    let mut q = user_query();
    set(&mut q);
    usernames(&store.list_users(&q).await.expect("list users"))
}

async fn list_users_applies_every_filter(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    five_people_in_two_classes(&store).await;
    let s = &store;

    assert_eq!(
        users_where(s, |_| {}).await,
        ["ada", "ben", "cy", "dee", "eve"]
    );
    let active = users_where(s, |q| q.status = Some(UserStatus::Active)).await;
    assert_eq!(active, ["ada", "dee", "eve"]);
    let students = users_where(s, |q| q.role = Some(Role::Student)).await;
    assert_eq!(students, ["ada", "ben", "cy"]);
    let teachers = users_where(s, |q| q.role = Some(Role::Teacher)).await;
    assert_eq!(teachers, ["dee"]);
    assert_eq!(users_where(s, |q| q.grade = Some(10)).await, ["ben", "cy"]);
    let lincoln = users_where(s, |q| q.school = Some("lincoln-hs".into())).await;
    assert_eq!(lincoln, ["ada", "cy", "dee"]);
    let class_a = users_where(s, |q| q.group = Some("class-a".into())).await;
    assert_eq!(class_a, ["ada", "ben"]);
    let class_b = users_where(s, |q| q.group = Some("class-b".into())).await;
    assert_eq!(class_b, ["ben", "dee"]);
    assert!(users_where(s, |q| q.group = Some("nope".into()))
        .await
        .is_empty());
    let combined = users_where(s, |q| {
        q.role = Some(Role::Student);
        q.school = Some("lincoln-hs".into());
        q.status = Some(UserStatus::Active);
    })
    .await;
    assert_eq!(combined, ["ada"]);
}

async fn free_text_matches_names_email_and_external_id_ignoring_case(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let mut ada = user("ada");
    ada.given_name = "Augusta".into();
    ada.family_name = "Lovelace".into();
    ada.email = Some("countess@example.org".into());
    ada.external_id = Some("SIS-1815".into());
    insert_users(&store, &[&ada, &user("ben")]).await;
    let s = &store;
    for text in ["ADA", "augUSTA", "lovelace", "COUNTESS@", "sis-18", " ada "] {
        let found = users_where(s, |q| q.q = Some(text.into())).await;
        assert_eq!(found, ["ada"], "q={text:?}");
    }
    assert_eq!(
        users_where(s, |q| q.q = Some("   ".into())).await.len(),
        2,
        "blank q is no filter"
    );
    assert!(users_where(s, |q| q.q = Some("nobody".into()))
        .await
        .is_empty());
}

async fn text_search_treats_like_wildcards_literally(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let named = |username: &str, given: &str| {
        let mut u = user(username);
        u.given_name = given.into();
        u
    };
    let people = [
        named("p1", "Percent100%"),
        named("p2", "Percent1000"),
        named("p3", "Under_score"),
        named("p4", "Underxscore"),
        named("p5", "Back\\slash"),
        named("p6", "Backxslash"),
    ];
    insert_users(&store, &people.iter().collect::<Vec<_>>()).await;
    let s = &store;
    for (text, expected) in [
        ("%", vec!["p1"]),
        ("100%", vec!["p1"]),
        ("_", vec!["p3"]),
        ("under_", vec!["p3"]),
        ("\\", vec!["p5"]),
        ("k\\s", vec!["p5"]),
        ("percent", vec!["p1", "p2"]),
    ] {
        let found = users_where(s, |q| q.q = Some(text.into())).await;
        assert_eq!(found, expected, "q={text:?}");
    }
}

async fn group_members_take_the_same_filters(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let class_b = five_people_in_two_classes(&store).await;
    let members = |set: fn(&mut UserQuery)| {
        let store = store.clone();
        async move {
            let mut q = user_query();
            set(&mut q);
            usernames(&store.group_members(class_b.id, &q).await.expect("members"))
        }
    };
    assert_eq!(members(|_| {}).await, ["ben", "dee"]);
    assert_eq!(members(|q| q.role = Some(Role::Teacher)).await, ["dee"]);
    assert_eq!(members(|q| q.q = Some("BEN".into())).await, ["ben"]);
    assert!(members(|q| q.status = Some(UserStatus::Suspended))
        .await
        .is_empty());
}

async fn devices_where(store: &Arc<dyn Store>, set: impl FnOnce(&mut DeviceQuery)) -> Vec<String> {
    let mut q = DeviceQuery {
        limit: 100,
        ..DeviceQuery::default()
    };
    set(&mut q);
    let page = store.list_devices(&q).await.expect("list devices");
    sorted(page.items.into_iter().map(|d| d.serial_number).collect())
}

async fn list_devices_applies_every_filter(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let (ada, ben) = (user("ada"), user("ben"));
    insert_users(&store, &[&ada, &ben]).await;
    let mut win1 = device("WIN-1");
    win1.compliance = Compliance::Compliant;
    win1.assigned_user_id = Some(ada.id);
    let mut mac2 = device("MAC-2");
    mac2.platform = Platform::Macos;
    mac2.model = Some("MacBook Air".into());
    mac2.compliance = Compliance::Noncompliant;
    mac2.assigned_user_id = Some(ben.id);
    let win3 = device("WIN-3");
    let mut cb4 = device("CB-4");
    cb4.platform = Platform::Chromeos;
    cb4.compliance = Compliance::Noncompliant;
    cb4.assigned_user_id = Some(ada.id);
    insert_devices(&store, &[&win1, &mac2, &win3, &cb4]).await;
    let s = &store;

    assert_eq!(
        devices_where(s, |_| {}).await,
        ["CB-4", "MAC-2", "WIN-1", "WIN-3"]
    );
    let windows = devices_where(s, |q| q.platform = Some(Platform::Windows)).await;
    assert_eq!(windows, ["WIN-1", "WIN-3"]);
    assert!(devices_where(s, |q| q.platform = Some(Platform::Linux))
        .await
        .is_empty());
    let failing = devices_where(s, |q| q.compliance = Some(Compliance::Noncompliant)).await;
    assert_eq!(failing, ["CB-4", "MAC-2"]);
    let unknown = devices_where(s, |q| q.compliance = Some(Compliance::Unknown)).await;
    assert_eq!(unknown, ["WIN-3"]);
    let adas = devices_where(s, |q| q.assigned_user_id = Some(ada.id)).await;
    assert_eq!(adas, ["CB-4", "WIN-1"]);
    let adas_failing = devices_where(s, |q| {
        q.assigned_user_id = Some(ada.id);
        q.compliance = Some(Compliance::Noncompliant);
    })
    .await;
    assert_eq!(adas_failing, ["CB-4"]);
    // Free text: serial number, name and model.
    assert_eq!(
        devices_where(s, |q| q.q = Some("macbook".into())).await,
        ["MAC-2"]
    );
    assert_eq!(
        devices_where(s, |q| q.q = Some("lab-win".into())).await,
        ["WIN-1", "WIN-3"]
    );
    assert_eq!(
        devices_where(s, |q| q.q = Some("cb-4".into())).await,
        ["CB-4"]
    );
}

async fn policies_where(store: &Arc<dyn Store>, set: impl FnOnce(&mut PolicyQuery)) -> Vec<String> {
    let mut q = PolicyQuery {
        limit: 100,
        ..PolicyQuery::default()
    };
    set(&mut q);
    let page = store.list_policies(&q).await.expect("list policies");
    sorted(page.items.into_iter().map(|p| p.name).collect())
}

async fn list_policies_applies_every_filter(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let encryption = policy("disk-encryption"); // security, windows + macos
    let mut firewall = policy("firewall");
    firewall.category = PolicyCategory::Network;
    firewall.platforms = vec![];
    firewall.description = Some("Firewall everywhere".into());
    let mut current = policy("windows-current");
    current.category = PolicyCategory::Updates;
    current.platforms = vec![Platform::Windows];
    current.enabled = false;
    let mut lock = policy("chrome-lock");
    lock.platforms = vec![Platform::Chromeos];
    insert_policies(&store, &[&encryption, &firewall, &current, &lock]).await;
    let s = &store;

    assert_eq!(policies_where(s, |_| {}).await.len(), 4);
    let security = policies_where(s, |q| q.category = Some(PolicyCategory::Security)).await;
    assert_eq!(security, ["chrome-lock", "disk-encryption"]);
    // A policy without platforms applies to every platform.
    let windows = policies_where(s, |q| q.platform = Some(Platform::Windows)).await;
    assert_eq!(windows, ["disk-encryption", "firewall", "windows-current"]);
    let chromeos = policies_where(s, |q| q.platform = Some(Platform::Chromeos)).await;
    assert_eq!(chromeos, ["chrome-lock", "firewall"]);
    let linux = policies_where(s, |q| q.platform = Some(Platform::Linux)).await;
    assert_eq!(linux, ["firewall"]);
    let disabled = policies_where(s, |q| q.enabled = Some(false)).await;
    assert_eq!(disabled, ["windows-current"]);
    assert_eq!(policies_where(s, |q| q.enabled = Some(true)).await.len(), 3);
    let text = policies_where(s, |q| q.q = Some("FIREWALL EVERY".into())).await;
    assert_eq!(text, ["firewall"]);
    let combined = policies_where(s, |q| {
        q.platform = Some(Platform::Windows);
        q.enabled = Some(true);
        q.category = Some(PolicyCategory::Security);
    })
    .await;
    assert_eq!(combined, ["disk-encryption"]);
}

async fn groups_where(store: &Arc<dyn Store>, set: impl FnOnce(&mut GroupQuery)) -> Vec<String> {
    let mut q = GroupQuery {
        limit: 100,
        ..GroupQuery::default()
    };
    set(&mut q);
    let page = store.list_groups(&q).await.expect("list groups");
    sorted(page.items.into_iter().map(|g| g.name).collect())
}

async fn list_groups_applies_every_filter(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let mut school = group("lincoln-hs");
    school.kind = GroupKind::School;
    let mut class = group("algebra-2");
    class.display_name = "Algebra II".into();
    class.external_id = Some("CLS-9".into());
    let mut other = group("chemistry");
    other.school = Some("roosevelt-hs".into());
    let mut security = group("all-staff");
    security.kind = GroupKind::Security;
    security.school = None;
    insert_groups(&store, &[&school, &class, &other, &security]).await;
    let s = &store;

    assert_eq!(groups_where(s, |_| {}).await.len(), 4);
    let classes = groups_where(s, |q| q.kind = Some(GroupKind::Class)).await;
    assert_eq!(classes, ["algebra-2", "chemistry"]);
    let security = groups_where(s, |q| q.kind = Some(GroupKind::Security)).await;
    assert_eq!(security, ["all-staff"]);
    let lincoln = groups_where(s, |q| q.school = Some("lincoln-hs".into())).await;
    assert_eq!(lincoln, ["algebra-2", "lincoln-hs"]);
    // Free text: name, display name and external id.
    assert_eq!(
        groups_where(s, |q| q.q = Some("algebra ii".into())).await,
        ["algebra-2"]
    );
    assert_eq!(
        groups_where(s, |q| q.q = Some("cls-9".into())).await,
        ["algebra-2"]
    );
    assert_eq!(
        groups_where(s, |q| q.q = Some("CHEM".into())).await,
        ["chemistry"]
    );
}

/// The id of the person with this username on `page`.
fn id_of(page: &Page<User>, name: &str) -> Uuid {
    page.items
        .iter()
        .find(|u| u.username == name)
        .expect(name)
        .id
}

/// A provisioning link of `user_id` on `target`.
fn link(
    user_id: Uuid,
    target: &str,
    status: cc_domain::LinkStatus,
    error: Option<&str>,
) -> cc_domain::TargetLinkRecord {
    cc_domain::TargetLinkRecord {
        user_id,
        target: target.into(),
        account_id: Some(format!("uid={target}")),
        status,
        last_operation: cc_domain::LifecycleOperation::Provision,
        last_job_id: Some(7),
        last_error: error.map(str::to_owned),
        synced_at: Some(now()),
        updated_at: now(),
    }
}

/// The page of people with their sync state read in one go says what the page and the
/// separate per-person lookup say, for every sync filter: ada has a failed link, ben an
/// unfinished lifecycle job, dee two links that succeeded, cy and eve nothing.
async fn a_synced_page_agrees_with_the_per_person_lookup(backend: Backend) {
    use cc_domain::{LinkStatus, SyncState};
    let (_db, store) = fresh(backend).await;
    five_people_in_two_classes(&store).await;
    let all = store.list_users(&user_query()).await.expect("list");
    let id = |name: &str| id_of(&all, name);
    let failed = link(
        id("ada"),
        "ldap",
        LinkStatus::Failed,
        Some("directory refused"),
    );
    store.upsert_target_link(&failed).await.expect("link");
    store
        .upsert_target_link(&link(id("dee"), "ldap", LinkStatus::Ok, None))
        .await
        .expect("link");
    // A second link for dee, on a target that sorts first, written second (and its error
    // kept but not shown: the link is fine).
    store
        .upsert_target_link(&link(
            id("dee"),
            "azure",
            LinkStatus::Ok,
            Some("an old error"),
        ))
        .await
        .expect("link");
    let job = cc_domain::NewJob::new(
        "lifecycle.provision",
        json!({ "user_id": id("ben"), "operation": "provision" }),
    );
    let mut tx = store.begin().await.expect("begin");
    tx.enqueue(&job).await.expect("enqueue");
    tx.commit().await.expect("commit");

    let state_of = |page: &Page<User>| -> Vec<(String, SyncState, usize)> {
        page.items
            .iter()
            .map(|u| {
                let sync = u
                    .sync
                    .as_ref()
                    .expect("every listed person has a sync state");
                (u.username.clone(), sync.state, sync.targets.len())
            })
            .collect()
    };
    let synced = store
        .list_users_synced(&user_query())
        .await
        .expect("synced page");
    assert_eq!(
        state_of(&synced),
        [
            ("ada".to_owned(), SyncState::Failed, 1),
            ("ben".to_owned(), SyncState::Pending, 0),
            ("cy".to_owned(), SyncState::InSync, 0),
            ("dee".to_owned(), SyncState::InSync, 2),
            ("eve".to_owned(), SyncState::InSync, 0),
        ]
    );
    let ada = &synced.items[0].sync.as_ref().expect("ada").targets[0];
    assert_eq!(ada.error.as_deref(), Some("directory refused"));
    let dee = &synced.items[3].sync.as_ref().expect("dee").targets;
    assert_eq!(
        dee.iter()
            .map(|t| (t.target.as_str(), t.error.as_deref()))
            .collect::<Vec<_>>(),
        [("azure", None), ("ldap", None)]
    );
    // Every filter, sort and direction, paged two at a time through the cursors: the page
    // (on SQLite read on its own connections, `sqlite/direct.rs`) binds the same arguments and
    // reads the same rows as the general list.
    let mut queries: Vec<(String, UserQuery)> = Vec::new();
    for filter in [
        None,
        Some(SyncState::Failed),
        Some(SyncState::Pending),
        Some(SyncState::InSync),
    ] {
        let mut q = user_query();
        q.sync = filter;
        queries.push((format!("sync {filter:?}"), q));
    }
    for sort in [
        UserSort::Username,
        UserSort::FamilyName,
        UserSort::CreatedAt,
    ] {
        for dir in [SortDir::Asc, SortDir::Desc] {
            let mut q = user_query();
            q.sort = sort;
            q.dir = dir;
            q.limit = 2;
            queries.push((format!("{sort:?} {dir:?}"), q));
        }
    }
    type Narrow = fn(&mut UserQuery);
    let narrowed: [(&str, Narrow); 6] = [
        ("grade", |q| q.grade = Some(10)),
        ("school", |q| q.school = Some("roosevelt-hs".into())),
        ("group", |q| q.group = Some("class-b".into())),
        ("status", |q| q.status = Some(UserStatus::Active)),
        ("role", |q| q.role = Some(Role::Teacher)),
        ("text", |q| q.q = Some("dee".into())),
    ];
    for (name, set) in narrowed {
        let mut q = user_query();
        q.limit = 1;
        set(&mut q);
        queries.push((name.to_owned(), q));
    }
    for (name, mut q) in queries {
        let mut pages = 0;
        loop {
            let mut separate = store.list_users(&q).await.expect("list");
            let ids: Vec<Uuid> = separate.items.iter().map(|u| u.id).collect();
            let mut sync = store.user_sync(&ids).await.expect("user sync");
            for u in &mut separate.items {
                u.sync = sync.remove(&u.id);
            }
            let together = store.list_users_synced(&q).await.expect("synced page");
            assert_eq!(together.items, separate.items, "{name}, page {pages}");
            assert_eq!(
                together.next_cursor, separate.next_cursor,
                "{name}, page {pages}"
            );
            pages += 1;
            assert!(pages <= 5, "{name}: more pages than people");
            match together.next_cursor {
                Some(c) => q.cursor = Some(Cursor::decode(&c, q.sort.name()).expect("cursor")),
                None => break,
            }
        }
        if q.q.is_some() || q.role.is_some() {
            assert_eq!(pages, 1, "{name}: one person matches");
        }
    }
}

/// What a lifecycle job reads in one statement says what the three separate reads say: for a
/// person with two links (in target order), one with an earlier unfinished job (and not for
/// the first of their jobs), one with nothing, and a person who no longer exists but has jobs.
async fn the_lifecycle_view_agrees_with_the_separate_reads(backend: Backend) {
    use cc_domain::LinkStatus;
    let (_db, store) = fresh(backend).await;
    five_people_in_two_classes(&store).await;
    let all = store.list_users(&user_query()).await.expect("list");
    let id = |name: &str| id_of(&all, name);
    for l in [
        link(
            id("ada"),
            "ldap",
            LinkStatus::Failed,
            Some("directory refused"),
        ),
        link(id("ada"), "apps", LinkStatus::Ok, None),
        link(id("ben"), "ldap", LinkStatus::Ok, None),
    ] {
        store.upsert_target_link(&l).await.expect("link");
    }
    let gone = Uuid::now_v7();
    let mut jobs = Vec::new();
    for user in [id("ben"), id("ben"), gone] {
        let job = cc_domain::NewJob::new(
            "lifecycle.update",
            json!({ "user_id": user, "operation": "update" }),
        );
        let mut tx = store.begin().await.expect("begin");
        jobs.push(tx.enqueue(&job).await.expect("enqueue").id);
        tx.commit().await.expect("commit");
    }
    let cases = [
        (id("ada"), jobs[1]),
        (id("ben"), jobs[0]),
        (id("ben"), jobs[1]),
        (id("cy"), jobs[1]),
        (gone, jobs[2] + 1),
    ];
    for (user_id, job_id) in cases {
        let separate = cc_store::LifecycleView {
            user: store.get_user(user_id).await.expect("user"),
            earlier: store
                .earlier_lifecycle_job(user_id, job_id)
                .await
                .expect("earlier"),
            links: store.list_target_links(user_id).await.expect("links"),
        };
        let together = store
            .lifecycle_view(user_id, job_id)
            .await
            .expect("lifecycle view");
        assert_eq!(together, separate, "person {user_id}, job {job_id}");
    }
    // The cases above are the ones they claim to be.
    let view = |user_id, job_id| {
        let store = store.clone();
        async move { store.lifecycle_view(user_id, job_id).await.expect("view") }
    };
    let ada = view(id("ada"), jobs[1]).await;
    let targets: Vec<&str> = ada.links.iter().map(|l| l.target.as_str()).collect();
    assert_eq!(targets, ["apps", "ldap"]);
    assert_eq!(
        ada.links[1].last_error.as_deref(),
        Some("directory refused")
    );
    assert_eq!(view(id("ben"), jobs[0]).await.earlier, None);
    assert_eq!(
        view(id("ben"), jobs[1]).await.earlier.map(|(job, _)| job),
        Some(jobs[0])
    );
    let gone_view = view(gone, jobs[2] + 1).await;
    assert_eq!(gone_view.user, None);
    assert_eq!(gone_view.earlier.map(|(job, _)| job), Some(jobs[2]));
    assert!(view(id("cy"), jobs[1]).await.links.is_empty());
}

/// On SQLite a synced page is read on the `sqlite_direct` pool: its connections are opened on
/// first use, counted in the pool statistics, all closed by `close`, and a read after it is
/// refused as the other pools refuse it. (PostgreSQL has no such pool.)
async fn the_direct_page_pool_opens_on_use_and_closes_with_the_store(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    five_people_in_two_classes(&store).await;
    let direct = |store: &Arc<dyn Store>| {
        store
            .pool_stats()
            .into_iter()
            .find(|p| p.name == "sqlite_direct")
    };
    if backend == Backend::Postgres {
        assert!(direct(&store).is_none(), "no direct pool on PostgreSQL");
        return;
    }
    let before = direct(&store).expect("a direct pool on a SQLite file");
    assert_eq!(
        (before.size, before.idle),
        (0, 0),
        "nothing opened before a page is read"
    );
    let q = user_query();
    let pages = (0..8).map(|_| store.list_users_synced(&q));
    for page in futures::future::join_all(pages).await {
        assert_eq!(page.expect("page").items.len(), 5);
    }
    let used = direct(&store).expect("direct pool");
    assert!(used.size >= 1 && used.size <= used.max, "{used:?}");
    assert_eq!(
        used.idle, used.size,
        "every connection is given back: {used:?}"
    );
    store.close().await;
    let closed = direct(&store).expect("direct pool");
    assert_eq!(
        (closed.size, closed.idle),
        (0, 0),
        "close closes every connection"
    );
    let err = store
        .list_users_synced(&user_query())
        .await
        .expect_err("a closed store refuses reads");
    assert!(
        matches!(err, StoreError::Unavailable(ref m) if m.contains("closed")),
        "{err:?}"
    );
}

/// On PostgreSQL a pooled connection is pinged before use only after it has been idle for
/// `RECHECK_IDLE` (sqlx pings each one as it is given back anyway): connections that died
/// while idle — here killed by the server — are replaced without any read failing.
async fn pooled_connections_killed_while_idle_are_replaced_without_an_error(backend: Backend) {
    if backend == Backend::Sqlite {
        return; // a file does not hang up
    }
    let (db, store) = fresh(backend).await;
    five_people_in_two_classes(&store).await;
    let q = user_query();
    let reads = (0..6).map(|_| store.list_users(&q));
    for page in futures::future::join_all(reads).await {
        assert_eq!(page.expect("page").items.len(), 5);
    }
    let admin = sqlx::PgPool::connect(&db.url)
        .await
        .expect("admin connection");
    // What is tested is defined by elapsed time (how long a connection sat idle), so time
    // has to pass here; nothing else is waited for this way.
    tokio::time::sleep(cc_store::postgres::RECHECK_IDLE * 3).await;
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name = 'command-center'",
    )
    .fetch_one(&admin)
    .await
    .expect("terminate");
    assert!(killed >= 1, "the store had connections open");
    // More reads, one after another, than the pool had connections: each idle, dead one is
    // found by its ping and replaced.
    for n in 0..(killed + 2) {
        let page = store.list_users(&q).await;
        assert_eq!(
            page.map(|p| p.items.len()).ok(),
            Some(5),
            "read {n} after {killed} connections were killed"
        );
    }
    admin.close().await;
}

backend_tests!(
    pooled_connections_killed_while_idle_are_replaced_without_an_error,
    the_direct_page_pool_opens_on_use_and_closes_with_the_store,
    list_users_applies_every_filter,
    a_synced_page_agrees_with_the_per_person_lookup,
    the_lifecycle_view_agrees_with_the_separate_reads,
    free_text_matches_names_email_and_external_id_ignoring_case,
    text_search_treats_like_wildcards_literally,
    group_members_take_the_same_filters,
    list_devices_applies_every_filter,
    list_policies_applies_every_filter,
    list_groups_applies_every_filter,
);
