//! Keyset pagination visits every row once, in order, for every sort.

use super::*;

/// 23 people whose usernames are not in creation order and whose family names repeat, so the
/// id tie-break matters.
async fn twenty_three_people(store: &Arc<dyn Store>) -> Vec<User> {
    const FAMILIES: [&str; 3] = ["Baker", "Adams", "Clark"];
    let people: Vec<User> = (0..23)
        .map(|i| User {
            family_name: FAMILIES[i % 3].into(),
            ..user(&format!("u{:02}", (i * 7) % 23))
        })
        .collect();
    insert_users(store, &people.iter().collect::<Vec<_>>()).await;
    people
}

async fn user_pagination_visits_every_row_exactly_once_for_every_sort(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let people = twenty_three_people(&store).await;
    for sort in [
        UserSort::Username,
        UserSort::FamilyName,
        UserSort::CreatedAt,
    ] {
        let mut expected = people.clone();
        expected.sort_by_key(|u| (sort.value_of(u), u.id));
        let ascending: Vec<Uuid> = expected.iter().map(|u| u.id).collect();
        for dir in [SortDir::Asc, SortDir::Desc] {
            let want: Vec<Uuid> = match dir {
                SortDir::Asc => ascending.clone(),
                SortDir::Desc => ascending.iter().rev().copied().collect(),
            };
            let pages = all_pages(sort.name(), |cursor| {
                let store = store.clone();
                let q = UserQuery {
                    sort,
                    dir,
                    limit: 5,
                    cursor,
                    ..UserQuery::default()
                };
                async move { store.list_users(&q).await.expect("list") }
            })
            .await;
            let ids: Vec<Vec<Uuid>> = pages
                .iter()
                .map(|p| p.iter().map(|u| u.id).collect())
                .collect();
            assert_pages_visit(&ids, &want, 5, &format!("{sort:?} {dir:?}"));
            if sort == UserSort::CreatedAt {
                let times: Vec<_> = pages.concat().iter().map(|u| u.created_at).collect();
                let ordered = match dir {
                    SortDir::Asc => times.windows(2).all(|w| w[0] <= w[1]),
                    SortDir::Desc => times.windows(2).all(|w| w[0] >= w[1]),
                };
                assert!(ordered, "created_at order {dir:?}");
            }
        }
    }
}

async fn member_pagination_follows_the_same_rules(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let people = twenty_three_people(&store).await;
    let g = group("everyone");
    let outsider = user("zz-outsider");
    insert_groups(&store, &[&g]).await;
    insert_users(&store, &[&outsider]).await;
    let mut tx = store.begin().await.expect("begin");
    for p in &people {
        tx.add_member(g.id, p.id).await.expect("add");
    }
    tx.commit().await.expect("commit");

    let mut expected = people.clone();
    expected.sort_by(|a, b| (&a.family_name, a.id).cmp(&(&b.family_name, b.id)));
    let want: Vec<Uuid> = expected.iter().rev().map(|u| u.id).collect();
    let pages = all_pages("family_name", |cursor| {
        let store = store.clone();
        let q = UserQuery {
            sort: UserSort::FamilyName,
            dir: SortDir::Desc,
            limit: 5,
            cursor,
            ..UserQuery::default()
        };
        async move { store.group_members(g.id, &q).await.expect("members") }
    })
    .await;
    let ids: Vec<Vec<Uuid>> = pages
        .iter()
        .map(|p| p.iter().map(|u| u.id).collect())
        .collect();
    assert_pages_visit(&ids, &want, 5, "members by -family_name");
}

async fn groups_devices_and_policies_paginate_by_creation(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let groups: Vec<Group> = (0..12).map(|i| group(&format!("g{i:02}"))).collect();
    let devices: Vec<Device> = (0..12).map(|i| device(&format!("SN-{i:02}"))).collect();
    let policies: Vec<Policy> = (0..12).map(|i| policy(&format!("p{i:02}"))).collect();
    insert_groups(&store, &groups.iter().collect::<Vec<_>>()).await;
    insert_devices(&store, &devices.iter().collect::<Vec<_>>()).await;
    insert_policies(&store, &policies.iter().collect::<Vec<_>>()).await;

    for dir in [SortDir::Asc, SortDir::Desc] {
        let order = |mut ids: Vec<Uuid>| {
            ids.sort();
            if dir == SortDir::Desc {
                ids.reverse();
            }
            ids
        };
        let pages = all_pages("id", |cursor| {
            let store = store.clone();
            let q = GroupQuery {
                dir,
                limit: 5,
                cursor,
                ..GroupQuery::default()
            };
            async move { store.list_groups(&q).await.expect("groups") }
        })
        .await;
        let ids: Vec<Vec<Uuid>> = pages
            .iter()
            .map(|p| p.iter().map(|x| x.id).collect())
            .collect();
        assert_pages_visit(
            &ids,
            &order(groups.iter().map(|x| x.id).collect()),
            5,
            "groups",
        );

        let pages = all_pages("id", |cursor| {
            let store = store.clone();
            let q = DeviceQuery {
                dir,
                limit: 5,
                cursor,
                ..DeviceQuery::default()
            };
            async move { store.list_devices(&q).await.expect("devices") }
        })
        .await;
        let ids: Vec<Vec<Uuid>> = pages
            .iter()
            .map(|p| p.iter().map(|x| x.id).collect())
            .collect();
        assert_pages_visit(
            &ids,
            &order(devices.iter().map(|x| x.id).collect()),
            5,
            "devices",
        );

        let pages = all_pages("id", |cursor| {
            let store = store.clone();
            let q = PolicyQuery {
                dir,
                limit: 5,
                cursor,
                ..PolicyQuery::default()
            };
            async move { store.list_policies(&q).await.expect("policies") }
        })
        .await;
        let ids: Vec<Vec<Uuid>> = pages
            .iter()
            .map(|p| p.iter().map(|x| x.id).collect())
            .collect();
        assert_pages_visit(
            &ids,
            &order(policies.iter().map(|x| x.id).collect()),
            5,
            "policies",
        );
    }
}

async fn an_exactly_full_last_page_has_no_next_cursor(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let people: Vec<User> = (0..10).map(|i| user(&format!("u{i}"))).collect();
    insert_users(&store, &people.iter().collect::<Vec<_>>()).await;
    let first = store
        .list_users(&UserQuery {
            limit: 5,
            ..UserQuery::default()
        })
        .await
        .expect("first page");
    let cursor = Cursor::decode(
        first.next_cursor.as_deref().expect("a second page"),
        "username",
    )
    .expect("cursor");
    let second = store
        .list_users(&UserQuery {
            limit: 5,
            cursor: Some(cursor),
            ..UserQuery::default()
        })
        .await
        .expect("second page");
    assert_eq!(second.items.len(), 5);
    assert_eq!(second.next_cursor, None);
}

backend_tests!(
    user_pagination_visits_every_row_exactly_once_for_every_sort,
    member_pagination_follows_the_same_rules,
    groups_devices_and_policies_paginate_by_creation,
    an_exactly_full_last_page_has_no_next_cursor,
);
