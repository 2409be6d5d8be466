//! Free-text search (`q`) with hostile and unusual input: the same answers on both backends,
//! whether or not a text index serves the query (SQLite's FTS5 trigram index serves queries of
//! three or more characters, shorter ones read the table), and an index that follows every
//! change of the rows it covers.

use super::*;

fn person(username: &str, given: &str, family: &str, email: Option<&str>) -> User {
    let mut u = user(username);
    u.given_name = given.into();
    u.family_name = family.into();
    u.email = email.map(Into::into);
    u.external_id = Some(format!("ID-{username}"));
    u
}

async fn found(store: &Arc<dyn Store>, text: &str) -> Vec<String> {
    let mut q = user_query();
    q.q = Some(text.into());
    usernames(&store.list_users(&q).await.expect("list users"))
}

async fn tricky_input_finds_the_same_people_on_both_backends(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let people = [
        person("ada", "Augusta", "Lovelace", Some("countess@example.net")),
        person("mac", "Angus", "MacDonald", None),
        person("accent", "Zoë", "Ångström", None),
        person("quote", "Say \"Hi\"", "O'Brien", None),
        person(
            "ops",
            "NEAR(x y)",
            "this OR that",
            Some("-minus@example.net"),
        ),
        person("star", "*star*", "Caret^Col:on", None),
        person("li", "李小龙", "Lee", None),
        person("smile", "🙂smile", "Émile", None),
    ];
    insert_users(&store, &people.iter().collect::<Vec<_>>()).await;
    let s = &store;
    let cases: &[(&str, &[&str])] = &[
        // ASCII letters: any case.
        ("macdonald", &["mac"]),
        ("MACDONALD", &["mac"]),
        ("cDoN", &["mac"]),
        (" lovelace ", &["ada"]),
        ("countess@example", &["ada"]),
        ("id-ada", &["ada"]),
        // Accented letters match themselves, not their base letter.
        ("zoë", &["accent"]),
        ("ZOË", &["accent"]),
        ("ngström", &["accent"]),
        ("zoe", &[]),
        ("mile", &["smile"]),
        // Quotes are text, never query syntax.
        ("\"hi\"", &["quote"]),
        ("say \"", &["quote"]),
        ("\"", &["quote"]),
        ("\"\"", &[]),
        ("\"\"\"", &[]),
        ("o'brien", &["quote"]),
        ("'", &["quote"]),
        // Full-text operators are text too.
        ("this or that", &["ops"]),
        ("lovelace OR macdonald", &[]),
        ("NEAR(lovelace macdonald)", &[]),
        ("near(x", &["ops"]),
        ("-minus", &["ops"]),
        ("lovelace -ada", &[]),
        ("love*", &[]),
        ("*star", &["star"]),
        ("*", &["star"]),
        ("^col", &["star"]),
        ("^love", &[]),
        ("col:on", &["star"]),
        ("family_name:lovelace", &[]),
        ("{given_name}: lovelace", &[]),
        // One and two characters (no trigram): still a substring match.
        ("l", &["ada", "li", "mac", "ops", "smile", "star"]),
        ("OR", &["ops"]),
        ("ë", &["accent"]),
        ("小龙", &["li"]),
        ("李小龙", &["li"]),
        ("🙂", &["smile"]),
        ("🙂sm", &["smile"]),
        // A match inside one field, never across two.
        ("augusta lovelace", &[]),
        ("nobody at all", &[]),
    ];
    for (text, expected) in cases {
        assert_eq!(found(s, text).await, *expected, "q={text:?}");
    }
    // Letters outside ASCII are compared case-insensitively only where the database lowers
    // them: PostgreSQL does, SQLite's `lower()` and `LIKE` fold ASCII letters only.
    for (text, on_postgres) in [("ångström", "accent"), ("émile", "smile")] {
        let expected: &[&str] = match backend {
            Backend::Postgres => &[on_postgres],
            Backend::Sqlite => &[],
        };
        assert_eq!(found(s, text).await, expected, "q={text:?}");
    }
}

/// Asserts SQLite's full-text index agrees with its table (FTS5's integrity check compares
/// the index with the rows of its content table); nothing to check on PostgreSQL.
async fn assert_text_index_consistent(db: &TestDb) {
    if db.backend != Backend::Sqlite {
        return;
    }
    let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open");
    for table in ["users_fts", "groups_fts", "devices_fts"] {
        sqlx::query(&format!(
            "INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)"
        ))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{table} disagrees with its table: {e}"));
    }
    pool.close().await;
}

async fn search_follows_updates_and_deletes(backend: Backend) {
    let (db, store) = fresh(backend).await;
    let ada = person("ada", "Augusta", "Lovelace", Some("countess@example.net"));
    let ben = person("ben", "Benjamin", "Franklin", None);
    insert_users(&store, &[&ada, &ben]).await;
    let (mut algebra, mut win) = (group("algebra-2"), device("WIN-1"));
    insert_groups(&store, &[&algebra]).await;
    insert_devices(&store, &[&win]).await;
    assert_text_index_consistent(&db).await;
    let s = &store;
    assert_eq!(found(s, "lovelace").await, ["ada"]);

    // A change of a searched field: the old text no longer finds the row, the new one does.
    let mut renamed = ada.clone();
    renamed.family_name = "King".into();
    renamed.email = Some("ada.king@example.net".into());
    renamed.version += 1;
    let mut tx = store.begin().await.expect("begin");
    tx.update_user(&renamed).await.expect("update");
    tx.commit().await.expect("commit");
    assert!(found(s, "lovelace").await.is_empty());
    assert!(found(s, "countess").await.is_empty());
    assert_eq!(found(s, "king").await, ["ada"]);
    assert_eq!(
        found(s, "augusta").await,
        ["ada"],
        "unchanged fields still found"
    );
    assert_text_index_consistent(&db).await;

    algebra.display_name = "Geometry".into();
    algebra.version += 1;
    win.model = Some("EliteBook 840".into());
    win.version += 1;
    let mut tx = store.begin().await.expect("begin");
    tx.update_group(&algebra).await.expect("update group");
    tx.update_device(&win).await.expect("update device");
    tx.commit().await.expect("commit");
    let groups = |text: &'static str| {
        let store = store.clone();
        async move {
            let q = GroupQuery {
                q: Some(text.into()),
                limit: 10,
                ..GroupQuery::default()
            };
            let page = store.list_groups(&q).await.expect("list groups");
            sorted(page.items.into_iter().map(|g| g.name).collect::<Vec<_>>())
        }
    };
    let devices = |text: &'static str| {
        let store = store.clone();
        async move {
            let q = DeviceQuery {
                q: Some(text.into()),
                limit: 10,
                ..DeviceQuery::default()
            };
            let page = store.list_devices(&q).await.expect("list devices");
            sorted(
                page.items
                    .into_iter()
                    .map(|d| d.serial_number)
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(groups("geometry").await, ["algebra-2"]);
    assert!(groups("algebra ii").await.is_empty());
    assert_eq!(devices("elitebook").await, ["WIN-1"]);
    assert!(devices("probook").await.is_empty());
    assert_text_index_consistent(&db).await;

    // Deleted rows are found no more; the others still are.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.delete_user(ada.id).await.expect("delete"));
    assert!(tx.delete_group(algebra.id).await.expect("delete group"));
    assert!(tx.delete_device(win.id).await.expect("delete device"));
    tx.commit().await.expect("commit");
    assert!(found(s, "king").await.is_empty());
    assert!(found(s, "augusta").await.is_empty());
    assert_eq!(found(s, "franklin").await, ["ben"]);
    assert!(groups("geometry").await.is_empty());
    assert!(devices("elitebook").await.is_empty());
    assert_text_index_consistent(&db).await;

    // A new row with the text of a deleted one is found.
    let again = person("ada2", "Augusta", "Lovelace", None);
    insert_users(&store, &[&again]).await;
    assert_eq!(found(s, "lovelace").await, ["ada2"]);
    assert_text_index_consistent(&db).await;
}

async fn the_search_migration_indexes_existing_rows(backend: Backend) {
    let (db, store) = fresh(backend).await;
    let ada = person("ada", "Augusta", "Lovelace", None);
    let ben = person("ben", "Benjamin", "Franklin", None);
    insert_users(&store, &[&ada]).await;
    // Back before the text index (migration 10 on SQLite, 9 on PostgreSQL; later ones go down
    // first), a row added meanwhile, then up again.
    let first = if backend == Backend::Sqlite { 10 } else { 9 };
    let steps = store
        .migration_status()
        .await
        .expect("status")
        .migrations
        .iter()
        .filter(|(v, _, applied)| *applied && *v >= first)
        .count();
    let down = store
        .migrate_down(u32::try_from(steps).unwrap())
        .await
        .expect("down");
    assert_eq!(down.last(), Some(&first));
    insert_users(&store, &[&ben]).await;
    assert_eq!(store.migrate_up().await.expect("up").len(), steps);
    assert_text_index_consistent(&db).await;
    assert_eq!(found(&store, "lovelace").await, ["ada"]);
    assert_eq!(found(&store, "franklin").await, ["ben"]);
}

async fn people_of_a_bulk_import_are_found(backend: Backend) {
    let (db, store) = fresh(backend).await;
    let imports = store.imports().expect("imports");
    insert_users(&store, &[&person("ada", "Augusta", "Lovelace", None)]).await;
    let batch = [
        person("ben", "Benjamin", "Franklin", None),
        person("cy", "Cyrus", "Vance", Some("cy@example.net")),
    ];
    let mut tx = imports.begin_import().await.expect("begin import");
    tx.insert_users_bulk(&batch).await.expect("bulk insert");
    tx.commit().await.expect("commit");
    assert_eq!(found(&store, "franklin").await, ["ben"]);
    assert_eq!(found(&store, "cy@example").await, ["cy"]);
    assert_eq!(found(&store, "lovelace").await, ["ada"]);
    assert_text_index_consistent(&db).await;

    if backend == Backend::Sqlite {
        // A bulk insert that fails (a duplicate username) undoes only itself on SQLite; what
        // the transaction does afterwards is indexed one row at a time again.
        let mut tx = imports.begin_import().await.expect("begin import");
        let dup = [
            person("dee", "Deirdre", "Oakes", None),
            person("ben", "Other", "Ben", None),
        ];
        assert!(tx.insert_users_bulk(&dup).await.is_err());
        tx.insert_user(&person("eve", "Evelyn", "Hart", None))
            .await
            .expect("insert after the failure");
        tx.commit().await.expect("commit");
        assert_eq!(found(&store, "evelyn").await, ["eve"]);
        assert!(found(&store, "deirdre").await.is_empty());
        assert_text_index_consistent(&db).await;
        let later = person("fay", "Fay", "Wray", None);
        insert_users(&store, &[&later]).await;
        assert_eq!(found(&store, "wray").await, ["fay"]);
        assert_text_index_consistent(&db).await;
    }
}

backend_tests!(
    people_of_a_bulk_import_are_found,
    tricky_input_finds_the_same_people_on_both_backends,
    search_follows_updates_and_deletes,
    the_search_migration_indexes_existing_rows,
);
