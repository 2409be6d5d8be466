//! The caches of directory and sign-in reads (rendered `GET /users` pages, looked-up bearer
//! tokens) never answer with what a committed change made stale: not after a write through
//! the API, not after a write by another process (a second store on the same database stands
//! for a worker, a CLI import or another replica), not after a token is revoked or its
//! operator disabled, and — on PostgreSQL — not after the notification connection drops.

use std::sync::Arc;
use std::time::Duration;

use cc_domain::{Actor, OperatorRole, User};
use cc_store::Store;
use cc_tests::{backend_tests, student, wait_for, Backend, TestApp};
use serde_json::json;

/// How long a write by another process may take to reach the cache: immediate on SQLite
/// (checked on every request); a notification's delay on PostgreSQL.
const NOTICE: Duration = Duration::from_secs(10);

async fn usernames(client: &cc_client::Client) -> Vec<String> {
    client
        .list_users(&[("limit", "200"), ("sort", "username")])
        .await
        .expect("list users")
        .items
        .into_iter()
        .map(|u: User| u.username)
        .collect()
}

/// Waits until the store can tell changes apart (PostgreSQL: the listener is up), so the
/// requests below really go through the caches.
async fn caching(store: &Arc<dyn Store>) {
    wait_for("change notifications", NOTICE, || async {
        store.change_generation()
    })
    .await;
}

/// A second connection pool on the same database: another process, as far as the app knows.
async fn other_process(app: &TestApp) -> Arc<dyn Store> {
    app.db.open().await
}

async fn list_follows_writes_through_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    caching(&app.store).await;
    let a = app.client.create_user(&student("cache.a")).await.unwrap();
    assert_eq!(usernames(&app.client).await, ["cache.a"]);
    assert_eq!(
        usernames(&app.client).await,
        ["cache.a"],
        "second read, same page"
    );

    app.client.create_user(&student("cache.b")).await.unwrap();
    assert_eq!(usernames(&app.client).await, ["cache.a", "cache.b"]);

    let patch = serde_json::from_value(json!({ "given_name": "Renamed" })).unwrap();
    app.client.update_user(a.id, &patch, None).await.unwrap();
    let page = app.client.list_users(&[("limit", "200")]).await.unwrap();
    let renamed = page.items.iter().find(|u| u.id == a.id).unwrap();
    assert_eq!(renamed.given_name, "Renamed");

    app.client.delete_user(a.id).await.unwrap();
    assert_eq!(usernames(&app.client).await, ["cache.b"]);
    app.stop().await;
}

async fn list_follows_writes_by_another_process(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    caching(&app.store).await;
    app.client
        .create_user(&student("seen.first"))
        .await
        .unwrap();
    assert_eq!(usernames(&app.client).await, ["seen.first"]);
    assert_eq!(usernames(&app.client).await, ["seen.first"]);

    let other = other_process(&app).await;
    let dir = cc_service::Directory::new(other.clone());
    let created = dir
        .create_user(&Actor::system("elsewhere"), student("made.elsewhere"))
        .await
        .unwrap();
    let wanted = vec!["made.elsewhere".to_owned(), "seen.first".to_owned()];
    if backend == Backend::Sqlite {
        // Checked on every request: the very next read sees it.
        assert_eq!(usernames(&app.client).await, wanted);
    } else {
        wait_for("the other process's user in the list", NOTICE, || async {
            (usernames(&app.client).await == wanted).then_some(())
        })
        .await;
    }

    // A change of group membership only (no users row touched) also counts.
    let group = dir
        .create_group(
            &Actor::system("elsewhere"),
            serde_json::from_value(json!({ "name": "cache-club", "kind": "security" })).unwrap(),
        )
        .await
        .unwrap();
    dir.set_membership(&Actor::system("elsewhere"), group.id, created.id, true)
        .await
        .unwrap();
    wait_for("the membership in the list", NOTICE, || async {
        let page = app.client.list_users(&[("limit", "200")]).await.unwrap();
        page.items
            .iter()
            .any(|u| u.id == created.id && u.groups.iter().any(|g| g == "cache-club"))
            .then_some(())
    })
    .await;
    other.close().await;
    app.stop().await;
}

async fn revoked_token_is_refused_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    caching(&app.store).await;
    let secret = app.api_token(OperatorRole::Operator).await;
    let client = app.anonymous().with_token(secret);
    usernames(&client).await;
    usernames(&client).await;
    let token = app
        .client
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.revoked_at.is_none() && t.role == OperatorRole::Operator)
        .unwrap();
    app.client.revoke_token(token.id).await.unwrap();
    let err = client.list_users(&[]).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    app.stop().await;
}

async fn disabled_operator_elsewhere_loses_access(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    caching(&app.store).await;
    let (client, username, _) = app.operator_with_role(OperatorRole::Operator).await;
    usernames(&client).await;
    usernames(&client).await;

    let other = other_process(&app).await;
    let auth = cc_service::Auth::new(other.clone(), cc_service::AuthSettings::default()).unwrap();
    let op = auth.find_operator(&username).await.unwrap().unwrap();
    let patch = serde_json::from_value(json!({ "disabled": true })).unwrap();
    auth.update_operator(&Actor::system("elsewhere"), op.id, patch, None)
        .await
        .unwrap();
    wait_for(
        "the disabled operator's session to be refused",
        NOTICE,
        || async { (client.list_users(&[]).await.err()?.status() == Some(401)).then_some(()) },
    )
    .await;
    if backend == Backend::Sqlite {
        // No waiting needed at all: the first request after the commit is refused.
        let again = client.list_users(&[]).await.unwrap_err();
        assert_eq!(again.status(), Some(401));
    }
    other.close().await;
    app.stop().await;
}

/// The console Overview's shared figures never hide a committed change: a person created
/// (the directory counts) and a job enqueued (the queue counts, with the job event the page
/// refreshes on) show in the next read within the same second.
async fn overview_follows_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    caching(&app.store).await;
    let cache = cc_service::overview::OverviewCache::default();
    let now = chrono::Utc::now();
    let people = |o: &cc_service::overview::Overview| -> i64 {
        o.users_by_status.iter().map(|(_, n)| n).sum()
    };
    let seen = app.store.last_job_event().await.unwrap();
    let before = cache.read(&app.store, seen, now).await.unwrap();
    let again = cache.read(&app.store, seen, now).await.unwrap();
    assert!(
        Arc::ptr_eq(&before, &again),
        "an unchanged store is read once"
    );

    app.client
        .create_user(&student("overview.a"))
        .await
        .unwrap();
    let seen = app.store.last_job_event().await.unwrap();
    let after = cache.read(&app.store, seen, now).await.unwrap();
    assert_eq!(people(&after), people(&before) + 1);

    let queued = |o: &cc_service::overview::Overview| -> i64 {
        o.jobs_by_state.iter().map(|(_, n)| n).sum()
    };
    let jobs_before = queued(&after);
    cc_queue::ops::enqueue(
        app.store.as_ref(),
        &cc_domain::NewJob::new("system.noop", json!({})),
    )
    .await
    .unwrap();
    let seen = app.store.last_job_event().await.unwrap();
    let with_job = cache.read(&app.store, seen, now).await.unwrap();
    assert_eq!(queued(&with_job), jobs_before + 1);
    app.stop().await;
}

/// The console's People rows, shared by viewers while the store reports no change, never
/// hide a committed change: a person created through the API, and one created by another
/// process, show on the next page read (SQLite) or once the notification arrives (PostgreSQL).
async fn people_page_follows_writes(backend: Backend) {
    let app = TestApp::spawn_console(backend, cc_tests::test_config()).await;
    caching(&app.store).await;
    let cookie = cc_tests::browser::http_sign_in(&app.base_url, "admin", &app.admin_password).await;
    let people = || async {
        cc_tests::browser::http()
            .get(format!("{}/people", app.base_url))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .expect("the server answers")
            .text()
            .await
            .expect("a page")
    };
    app.client
        .create_user(&student("rows.first"))
        .await
        .unwrap();
    let first = people().await;
    assert!(first.contains("rows.first"), "the person is listed");
    assert!(
        people().await.contains("rows.first"),
        "second read, same rows"
    );

    app.client
        .create_user(&student("rows.second"))
        .await
        .unwrap();
    assert!(
        people().await.contains("rows.second"),
        "a write through the API shows on the next read"
    );

    let other = other_process(&app).await;
    cc_service::Directory::new(other.clone())
        .create_user(&Actor::system("elsewhere"), student("rows.elsewhere"))
        .await
        .unwrap();
    if backend == Backend::Sqlite {
        assert!(people().await.contains("rows.elsewhere"));
    } else {
        wait_for("the other process's person on the page", NOTICE, || async {
            people().await.contains("rows.elsewhere").then_some(())
        })
        .await;
    }
    other.close().await;
    app.stop().await;
}

/// Waits until every notification sent before now has been counted (PostgreSQL: a marker
/// sent after them arrives after them; SQLite counts on every look, so nothing to wait for).
async fn settled(app: &TestApp) {
    if app.db.backend != Backend::Postgres {
        return;
    }
    let admin = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    let before = app.store.change_generation().unwrap();
    sqlx::query("SELECT pg_notify('cc_changed', '')")
        .execute(&admin)
        .await
        .unwrap();
    wait_for("the marker notification", NOTICE, || async {
        app.store.change_generation().filter(|g| *g > before)
    })
    .await;
    admin.close().await;
}

/// The sign-in tables keep a generation of their own: commits to the directory and the job
/// queue (by another process, and by this one) move the store's change generation but not
/// the auth generation, so looked-up tokens stay cached through them; a commit to a sign-in
/// table moves it, from another process too.
async fn auth_generation_moves_only_with_the_sign_in_tables(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    caching(&app.store).await;
    app.api_token(OperatorRole::Operator).await;
    app.api_token(OperatorRole::Operator).await;
    let tokens: Vec<_> = app
        .client
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.revoked_at.is_none() && t.role == OperatorRole::Operator)
        .collect();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    // (The client signs in with a session: no token use is recorded in the background.)
    let other = other_process(&app).await;
    settled(&app).await;
    let auth_before = app.store.auth_generation().expect("an auth generation");
    let before = app.store.change_generation().unwrap();
    assert_eq!(
        app.store.generations(),
        (Some(before), Some(auth_before)),
        "both generations from one look say what each says alone"
    );

    let dir = cc_service::Directory::new(other.clone());
    dir.create_user(&Actor::system("elsewhere"), student("not.a.sign.in"))
        .await
        .unwrap();
    let mut tx = other.begin().await.unwrap();
    tx.enqueue(&cc_domain::NewJob::new("system.noop", json!({})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.store.note_local_change();
    settled(&app).await;
    assert!(
        app.store.change_generation().unwrap() > before,
        "the change generation moved"
    );
    assert_eq!(
        app.store.auth_generation(),
        Some(auth_before),
        "directory and job commits left the auth generation alone"
    );

    let mut tx = other.begin().await.unwrap();
    assert!(tx
        .auth()
        .revoke_api_token(tokens[0].id, cc_domain::now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    if backend == Backend::Sqlite {
        // Seen by the very next look.
        assert!(app.store.auth_generation().unwrap() > auth_before);
    } else {
        wait_for("the sign-in change to be heard", NOTICE, || async {
            app.store.auth_generation().filter(|g| *g > auth_before)
        })
        .await;
    }
    // And this process's own commit to a sign-in table moves it at once, on both backends.
    let now_seen = app.store.auth_generation().unwrap();
    let mut tx = app.store.begin().await.unwrap();
    assert!(tx
        .auth()
        .revoke_api_token(tokens[1].id, cc_domain::now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert!(app.store.auth_generation().unwrap() > now_seen);
    other.close().await;
    app.stop().await;
}

backend_tests!(
    auth_generation_moves_only_with_the_sign_in_tables,
    people_page_follows_writes,
    overview_follows_writes,
    list_follows_writes_through_the_api,
    list_follows_writes_by_another_process,
    revoked_token_is_refused_at_once,
    disabled_operator_elsewhere_loses_access,
);

/// Renames a person with the notification trigger disabled: a change no server hears of.
async fn rename_silently(admin: &sqlx::PgPool, id: uuid::Uuid, username: &str) {
    let mut tx = admin.begin().await.unwrap();
    sqlx::query("ALTER TABLE users DISABLE TRIGGER users_changed")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET username = $2 WHERE id = $1")
        .bind(id)
        .bind(username)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE users ENABLE TRIGGER users_changed")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// PostgreSQL only: the pages really are cached (a change that bypasses the notification
/// trigger stays unseen), and a dropped notification connection makes the server stop
/// trusting its cache until it listens again — nothing committed meanwhile is missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifications_drive_the_cache() {
    let app = TestApp::spawn(Backend::Postgres).await;
    caching(&app.store).await;
    let u = app.client.create_user(&student("pg.cached")).await.unwrap();
    let admin = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    // The creation's own notification may still be on its way (it would empty the cache
    // after the page below is cached); a marker sent now arrives after it.
    settled(&app).await;
    assert_eq!(usernames(&app.client).await, ["pg.cached"]);
    // Without the trigger, nothing tells the server: the cached page stands.
    rename_silently(&admin, u.id, "pg.silent").await;
    assert_eq!(
        usernames(&app.client).await,
        ["pg.cached"],
        "served from the cache"
    );

    // With it, the next page is fresh.
    sqlx::query("UPDATE users SET username = 'pg.notified' WHERE id = $1")
        .bind(u.id)
        .execute(&admin)
        .await
        .unwrap();
    wait_for("the notified change", NOTICE, || async {
        (usernames(&app.client).await == ["pg.notified"]).then_some(())
    })
    .await;

    // Cut the listening connection, then change a row silently (as if its notification had
    // been lost with the connection): the server must not answer from its old cache.
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%cc_changed%'",
    )
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(cut, 1, "one listening connection");
    rename_silently(&admin, u.id, "pg.during.outage").await;
    wait_for("the change made while not listening", NOTICE, || async {
        (usernames(&app.client).await == ["pg.during.outage"]).then_some(())
    })
    .await;
    // And it listens again.
    caching(&app.store).await;
    admin.close().await;
    app.stop().await;
}
