//! Managing operators through the API, and the real operator in every audit event.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use cc_domain::{NewOperator, OperatorPatch, OperatorRole};
use cc_tests::{backend_tests, student, Backend, TestApp};

async fn admins_manage_operators_and_every_change_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .client
        .create_operator(&NewOperator {
            username: "grace".into(),
            password: "violet kettle ocean 42".into(),
            role: OperatorRole::Auditor,
        })
        .await
        .unwrap();
    assert_eq!(
        (created.role, created.disabled),
        (OperatorRole::Auditor, false)
    );
    let listed = app.client.list_operators().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|o| o.username.as_str()).collect();
    assert_eq!(names, ["admin", "grace"]);
    assert_eq!(app.client.get_operator(created.id).await.unwrap(), created);

    let promoted = app
        .client
        .update_operator(
            created.id,
            &OperatorPatch {
                role: Some(OperatorRole::Operator),
                disabled: None,
            },
            Some(created.version),
        )
        .await
        .unwrap();
    assert_eq!(promoted.role, OperatorRole::Operator);
    // A stale version is refused.
    let stale = app
        .client
        .update_operator(
            created.id,
            &OperatorPatch {
                role: Some(OperatorRole::Admin),
                disabled: None,
            },
            Some(created.version),
        )
        .await
        .unwrap_err();
    assert_eq!(stale.status(), Some(412));

    let (grace, _) = app
        .anonymous()
        .logged_in("grace", "violet kettle ocean 42")
        .await
        .unwrap();
    app.client
        .reset_operator_password(created.id, "a brand new passphrase")
        .await
        .unwrap();
    assert_eq!(
        grace.me().await.unwrap_err().status(),
        Some(401),
        "a reset ends sessions"
    );
    assert_eq!(
        app.anonymous()
            .login("grace", "violet kettle ocean 42")
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
    app.anonymous()
        .login("grace", "a brand new passphrase")
        .await
        .unwrap();

    let events = app
        .client
        .list_audit(&[("action", "operator.")])
        .await
        .unwrap();
    let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "operator.password_reset",
            "operator.role_change",
            "operator.create"
        ]
    );
    assert!(events.items.iter().all(|e| e.actor == "operator:admin"));
    assert_eq!(events.items[1].before.as_ref().unwrap()["role"], "auditor");
    assert_eq!(events.items[1].after.as_ref().unwrap()["role"], "operator");
    let logins = app
        .client
        .list_audit(&[("action", "auth.login")])
        .await
        .unwrap();
    assert!(logins.items.iter().any(|e| e.actor == "operator:grace"));
    app.stop().await;
}

async fn directory_changes_record_the_real_operator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ops, name, _) = app.operator_with_role(OperatorRole::Operator).await;
    let user = ops.create_user(&student("lin")).await.unwrap();
    ops.delete_user(user.id).await.unwrap();
    let events = app
        .client
        .list_audit(&[("target_id", &user.id.to_string())])
        .await
        .unwrap();
    assert_eq!(events.items.len(), 2);
    for e in &events.items {
        assert_eq!(e.actor, format!("operator:{name}"));
        assert!(e.request_id.is_some());
    }
    let anonymous = app
        .client
        .list_audit(&[("actor", "anonymous"), ("limit", "500")])
        .await
        .unwrap();
    assert!(
        anonymous
            .items
            .iter()
            .all(|e| e.action == "auth.login_failed"),
        "only failed logins of unknown names are anonymous: {:?}",
        anonymous.items
    );
    app.stop().await;
}

async fn operator_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin_id = app.client.me().await.unwrap().operator_id;
    // The last enabled admin stays an enabled admin.
    for patch in [
        OperatorPatch {
            role: Some(OperatorRole::Operator),
            disabled: None,
        },
        OperatorPatch {
            role: None,
            disabled: Some(true),
        },
    ] {
        let err = app
            .client
            .update_operator(admin_id, &patch, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(422), "{err}");
    }
    // Password policy: length, common passwords, the username; the message never echoes it.
    for (password, fragment) in [
        ("short", "at least 12"),
        ("password1234", "common"),
        ("Qwertyuiop123!", "common"),
        ("newbie-is-my-name", "username"),
    ] {
        let err = app
            .client
            .create_operator(&NewOperator {
                username: "newbie".into(),
                password: password.into(),
                role: OperatorRole::Auditor,
            })
            .await
            .unwrap_err();
        let p = err.problem().unwrap();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "password"));
        assert!(
            p.errors[0].message.contains(fragment),
            "{}",
            p.errors[0].message
        );
        assert!(!serde_json::to_string(p).unwrap().contains(password));
    }
    for bad in ["Capital", "", "has space", ".dot"] {
        let err = app
            .client
            .create_operator(&NewOperator {
                username: bad.into(),
                password: "violet kettle ocean 42".into(),
                role: OperatorRole::Auditor,
            })
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(422), "{bad:?}");
    }
    let dup = app
        .client
        .create_operator(&NewOperator {
            username: "admin".into(),
            password: "violet kettle ocean 42".into(),
            role: OperatorRole::Auditor,
        })
        .await
        .unwrap_err();
    assert_eq!(dup.status(), Some(409));
    // A second admin makes demoting the first possible.
    app.client
        .create_operator(&NewOperator {
            username: "second".into(),
            password: "violet kettle ocean 42".into(),
            role: OperatorRole::Admin,
        })
        .await
        .unwrap();
    app.client
        .update_operator(
            admin_id,
            &OperatorPatch {
                role: Some(OperatorRole::Auditor),
                disabled: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        app.client.list_operators().await.unwrap_err().status(),
        Some(403),
        "the demotion applies at once"
    );
    app.stop().await;
}

async fn bootstrap_happens_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let again = app
        .auth
        .bootstrap_admin(Some("another strong passphrase"))
        .await
        .unwrap();
    assert_eq!(again, cc_service::auth::Bootstrap::NotNeeded);
    app.anonymous()
        .login("admin", &app.admin_password)
        .await
        .unwrap();

    let db = cc_tests::TestDb::new(backend).await;
    let store = db.store().await;
    let auth = cc_service::Auth::new(store.clone(), cc_service::AuthSettings::default()).unwrap();
    let err = auth.bootstrap_admin(Some("password")).await.unwrap_err();
    assert!(
        matches!(err, cc_service::ServiceError::Validation(_)),
        "{err:?}"
    );
    let cc_service::auth::Bootstrap::Generated(password) =
        auth.bootstrap_admin(None).await.unwrap()
    else {
        panic!("expected a generated password");
    };
    assert!(password.len() >= 20);
    auth.login("admin", &password, None, None).await.unwrap();
    let (_, hash) = store
        .auth()
        .operator_credentials("admin")
        .await
        .unwrap()
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(&password));
    app.stop().await;
}

/// Two admins demoting (or disabling) each other at the same moment: one wins, the other is
/// refused, and an enabled admin always remains.
async fn concurrent_demotions_leave_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let password = "violet kettle ocean 42";
    let mut ids = Vec::new();
    for name in ["admin-x", "admin-y"] {
        ids.push(
            app.client
                .create_operator(&NewOperator {
                    username: name.into(),
                    password: password.into(),
                    role: OperatorRole::Admin,
                })
                .await
                .unwrap()
                .id,
        );
    }
    // Only the two of them are admins.
    let first = app.client.me().await.unwrap().operator_id;
    let system = cc_domain::Actor::system("test");
    let demote = OperatorPatch {
        role: Some(OperatorRole::Operator),
        disabled: None,
    };
    app.auth
        .update_operator(&system, first, demote.clone(), None)
        .await
        .unwrap();
    let restore = OperatorPatch {
        role: Some(OperatorRole::Admin),
        disabled: Some(false),
    };
    for round in 0..8 {
        let patch = if round % 2 == 0 {
            demote.clone()
        } else {
            OperatorPatch {
                role: None,
                disabled: Some(true),
            }
        };
        let (x, _) = app
            .anonymous()
            .logged_in("admin-x", password)
            .await
            .unwrap();
        let (y, _) = app
            .anonymous()
            .logged_in("admin-y", password)
            .await
            .unwrap();
        let (rx, ry) = tokio::join!(
            x.update_operator(ids[1], &patch, None),
            y.update_operator(ids[0], &patch, None)
        );
        let statuses = [&rx, &ry].map(|r| r.as_ref().err().and_then(|e| e.status()));
        let won = statuses.iter().filter(|s| s.is_none()).count();
        assert_eq!(won, 1, "round {round}: {statuses:?}");
        assert!(
            statuses
                .iter()
                .flatten()
                .all(|s| [401, 403, 422].contains(s)),
            "round {round}: {statuses:?}"
        );
        let admins = app
            .auth
            .list_operators()
            .await
            .unwrap()
            .into_iter()
            .filter(|o| o.role == OperatorRole::Admin && !o.disabled)
            .count();
        assert_eq!(admins, 1, "round {round}");
        for id in &ids {
            app.auth
                .update_operator(&system, *id, restore.clone(), None)
                .await
                .unwrap();
        }
    }
    app.stop().await;
}

backend_tests!(
    concurrent_demotions_leave_an_admin,
    admins_manage_operators_and_every_change_is_audited,
    directory_changes_record_the_real_operator,
    operator_rules,
    bootstrap_happens_once,
);
