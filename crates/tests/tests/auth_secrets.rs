//! No password or token appears in the audit log, the server's logs or error responses, in
//! any authentication flow. Logs are captured at `trace` for our crates.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

#[path = "common/logs.rs"]
mod logs;

use cc_domain::{NewApiToken, NewOperator, OperatorRole};
use cc_tests::{backend_tests, student, test_config, Backend, TestApp};
use reqwest::Method;
use serde_json::json;

const SIGNING_SECRET: &str = "sekrit-signing-key-0123456789abcdef";

async fn no_secret_in_audit_logs_or_errors(backend: Backend) {
    logs::capture();
    let mut config = test_config();
    config.auth.signing_keys = format!("k1:{SIGNING_SECRET}");
    let app = TestApp::spawn_with(backend, config, None).await;
    let mut secrets: Vec<String> = vec![app.admin_password.clone(), SIGNING_SECRET.into()];
    let anon = app.anonymous();

    // Logins that work and fail, including a password typed into the name field.
    let tokens = anon.login("admin", &app.admin_password).await.unwrap();
    secrets.push(tokens.access_token.clone());
    secrets.push(tokens.refresh_token.clone());
    let typo = "my-Secret-Passphrase-9";
    secrets.push(typo.into());
    let e1 = anon.login(typo, "x").await.unwrap_err();
    let wrong = "not-the-admin-password-77";
    secrets.push(wrong.into());
    let e2 = anon.login("admin", wrong).await.unwrap_err();

    // Refresh, reuse, logout.
    let next = anon.refresh(&tokens.refresh_token).await.unwrap();
    secrets.push(next.access_token.clone());
    secrets.push(next.refresh_token.clone());
    let e3 = anon.refresh(&tokens.refresh_token).await.unwrap_err();

    // Operators: create, reset password, a refused weak password.
    let op_password = "violet kettle ocean 42";
    secrets.push(op_password.into());
    let op = app
        .client
        .create_operator(&NewOperator {
            username: "ops".into(),
            password: op_password.into(),
            role: OperatorRole::Operator,
        })
        .await
        .unwrap();
    let reset = "another quiet harbour 7";
    secrets.push(reset.into());
    app.client
        .reset_operator_password(op.id, reset)
        .await
        .unwrap();
    let weak = "Password123!";
    let e4 = app
        .client
        .create_operator(&NewOperator {
            username: "weak".into(),
            password: weak.into(),
            role: OperatorRole::Auditor,
        })
        .await
        .unwrap_err();

    // API tokens: create, use, revoke, use after revocation.
    let token = app
        .client
        .create_token(&NewApiToken {
            name: "bot".into(),
            role: OperatorRole::Operator,
            expires_in_days: None,
        })
        .await
        .unwrap();
    secrets.push(token.secret.clone());
    let bot = anon.clone().with_token(&token.secret);
    bot.create_user(&student("ana")).await.unwrap();
    app.client.revoke_token(token.token.id).await.unwrap();
    let e5 = bot.me().await.unwrap_err();
    // A malformed body on login.
    let res = anon
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"username": "admin", "password": app.admin_password, "extra": 1}))
        .send()
        .await
        .unwrap();
    let e6 = res.text().await.unwrap();

    let audit = app.client.list_audit(&[("limit", "500")]).await.unwrap();
    let audit_text = serde_json::to_string(&audit.items).unwrap();
    assert!(audit.items.len() >= 9, "{audit_text}");
    let errors = format!("{e1:?} {e2:?} {e3:?} {e4:?} {e5:?} {e6}");
    app.stop().await;
    let logs = logs::captured();
    assert!(logs.contains("login failed"), "the capture works");
    for secret in &secrets {
        assert!(
            !audit_text.contains(secret.as_str()),
            "a secret is in the audit log: {audit_text}"
        );
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        assert!(
            !errors.contains(secret.as_str()),
            "a secret is in an error response: {errors}"
        );
    }
    assert!(!errors.contains(weak));
}

backend_tests!(no_secret_in_audit_logs_or_errors);
