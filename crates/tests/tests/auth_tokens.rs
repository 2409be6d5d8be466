//! Access tokens, refresh tokens and API tokens: what is refused, and what revocation stops.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cc_auth::{AccessClaims, Keyring};
use cc_domain::{NewApiToken, NewOperator, OperatorPatch, OperatorRole};
use cc_tests::{backend_tests, student, test_config, wait_for, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const KEYS: &str = "test-1:0123456789abcdef0123456789abcdef,old:fedcba9876543210fedcba9876543210";

async fn app_with_known_keys(backend: Backend) -> TestApp {
    let mut config = test_config();
    config.auth.signing_keys = KEYS.into();
    TestApp::spawn_with(backend, config, None).await
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The status of `GET /api/v1/auth/me` with this bearer token.
async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.anonymous()
        .with_token(token)
        .request(Method::GET, "/api/v1/auth/me")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// HMAC-signs arbitrary header and claims with a key from the ring (to forge precisely).
fn sign_raw(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use hmac::Mac;
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

async fn forged_and_broken_access_tokens_are_refused(backend: Backend) {
    let app = app_with_known_keys(backend).await;
    let (_, tokens) = app
        .anonymous()
        .logged_in("admin", &app.admin_password)
        .await
        .unwrap();
    let real = claims_of(&tokens.access_token);
    let sub: uuid::Uuid = real["sub"].as_str().unwrap().parse().unwrap();
    let sid: uuid::Uuid = real["sid"].as_str().unwrap().parse().unwrap();
    let ring = Keyring::parse(KEYS).unwrap();
    let now = chrono::Utc::now();
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "test-1"});
    let key = b"0123456789abcdef0123456789abcdef";

    // The forging is right: a well-formed token signed with a configured key is accepted,
    // including one signed with the older key (rotation).
    assert_eq!(me_status(&app, &tokens.access_token).await, 200);
    let good = AccessClaims::new(sub, sid, "admin", now, 600);
    assert_eq!(me_status(&app, &ring.sign(&good).unwrap()).await, 200);
    let old = Keyring::parse("old:fedcba9876543210fedcba9876543210").unwrap();
    assert_eq!(me_status(&app, &old.sign(&good).unwrap()).await, 200);
    assert_eq!(
        me_status(
            &app,
            &sign_raw(&header, &serde_json::to_value(&good).unwrap(), key)
        )
        .await,
        200
    );

    let mut cases: Vec<(&str, String)> = Vec::new();
    let mut expired = AccessClaims::new(sub, sid, "admin", now - chrono::Duration::hours(2), 600);
    expired.iat -= 1;
    cases.push(("expired", ring.sign(&expired).unwrap()));
    let future = AccessClaims::new(sub, sid, "admin", now + chrono::Duration::hours(1), 600);
    cases.push(("not yet valid", ring.sign(&future).unwrap()));
    let other = Keyring::parse("test-1:another-secret-entirely-0123456789").unwrap();
    cases.push(("wrong signature", other.sign(&good).unwrap()));
    let unknown = Keyring::parse("rotated-away:0123456789abcdef0123456789abcdef").unwrap();
    cases.push(("unknown kid", unknown.sign(&good).unwrap()));
    let claims = serde_json::to_value(&good).unwrap();
    cases.push((
        "alg none",
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": "test-1"})),
            b64(&claims)
        ),
    ));
    cases.push((
        "alg None without signature part",
        format!(
            "{}.{}",
            b64(&json!({"alg": "None", "kid": "test-1"})),
            b64(&claims)
        ),
    ));
    for alg in ["HS512", "RS256", "EdDSA", "ES256", "hs256"] {
        let forged = sign_raw(
            &json!({"alg": alg, "typ": "JWT", "kid": "test-1"}),
            &claims,
            key,
        );
        cases.push(("algorithm confusion", forged));
    }
    cases.push((
        "no kid",
        sign_raw(&json!({"alg": "HS256", "typ": "JWT"}), &claims, key),
    ));
    cases.push((
        "embedded jwk",
        sign_raw(
            &json!({"alg": "HS256", "kid": "test-1", "jwk": {"kty": "oct", "k": "AAAA"}}),
            &claims,
            key,
        ),
    ));
    // Tampered claims under the original signature.
    let parts: Vec<&str> = tokens.access_token.split('.').collect();
    let mut tampered = real.clone();
    tampered["exp"] = json!(real["exp"].as_i64().unwrap() + 86_400);
    cases.push((
        "tampered exp",
        format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]),
    ));
    let mut tampered = real.clone();
    tampered["sub"] = json!(uuid::Uuid::now_v7());
    cases.push((
        "tampered sub",
        format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]),
    ));
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("someone-else");
    cases.push(("wrong audience", sign_raw(&header, &wrong_aud, key)));
    let mut wrong_session = claims.clone();
    wrong_session["sid"] = json!(uuid::Uuid::now_v7());
    cases.push(("unknown session", sign_raw(&header, &wrong_session, key)));
    cases.push(("garbage", "not-a-token".into()));
    cases.push((
        "api token prefix, unknown",
        "cct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    ));

    for (what, token) in &cases {
        let res = app
            .anonymous()
            .with_token(token)
            .request(Method::GET, "/api/v1/users")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{what} must be refused");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "invalid_token", "{what}");
    }
    app.stop().await;
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anon = app.anonymous();
    let first = anon.login("admin", &app.admin_password).await.unwrap();
    assert_eq!(first.token_type, "Bearer");
    assert!(first.expires_in > 0 && first.refresh_token.starts_with("ccr_"));
    let second = anon.refresh(&first.refresh_token).await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(me_status(&app, &second.access_token).await, 200);

    // Reusing the first refresh token: refused, and the whole session ends.
    let err = anon.refresh(&first.refresh_token).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(
        anon.refresh(&second.refresh_token)
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
    assert_eq!(me_status(&app, &second.access_token).await, 401);
    assert_eq!(me_status(&app, &first.access_token).await, 401);
    let reuse = app
        .client
        .list_audit(&[("action", "auth.refresh_reuse")])
        .await
        .unwrap();
    assert_eq!(reuse.items.len(), 1);
    assert_eq!(reuse.items[0].actor, "operator:admin");

    // Other sessions are unaffected.
    assert_eq!(app.client.me().await.unwrap().name, "operator:admin");
    assert_eq!(
        anon.refresh("ccr_unknown").await.unwrap_err().status(),
        Some(401)
    );
    app.stop().await;
}

async fn logout_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (client, tokens) = app
        .anonymous()
        .logged_in("admin", &app.admin_password)
        .await
        .unwrap();
    assert_eq!(client.me().await.unwrap().kind, "session");
    client.logout().await.unwrap();
    assert_eq!(client.me().await.unwrap_err().status(), Some(401));
    assert_eq!(
        app.anonymous()
            .refresh(&tokens.refresh_token)
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
    let events = app
        .client
        .list_audit(&[("action", "auth.logout")])
        .await
        .unwrap();
    assert_eq!(events.items[0].actor, "operator:admin");
    // API tokens have no session to end.
    let secret = app.api_token(OperatorRole::Auditor).await;
    let err = app
        .anonymous()
        .with_token(&secret)
        .logout()
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().code, "not_a_session");
    app.stop().await;
}

async fn api_tokens_work_until_revoked_and_record_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .client
        .create_token(&NewApiToken {
            name: "sis-sync".into(),
            role: OperatorRole::Operator,
            expires_in_days: Some(30),
        })
        .await
        .unwrap();
    assert!(created.secret.starts_with("cct_"));
    assert!(created.token.last_used_at.is_none());
    let bot = app.anonymous().with_token(&created.secret);
    let me = bot.me().await.unwrap();
    assert_eq!(
        (me.name.as_str(), me.role, me.kind.as_str()),
        ("token:sis-sync", OperatorRole::Operator, "api_token")
    );
    let user = bot.create_user(&student("tok")).await.unwrap();
    let audit = app
        .client
        .list_audit(&[("action", "user.create")])
        .await
        .unwrap();
    assert_eq!(audit.items[0].actor, "token:sis-sync");
    assert_eq!(
        audit.items[0].target_id.as_deref(),
        Some(user.id.to_string().as_str())
    );
    // Not above its role.
    assert_eq!(bot.list_operators().await.unwrap_err().status(), Some(403));
    // Last use is recorded (asynchronously, at most once a minute).
    let id = created.token.id;
    wait_for("last_used_at", Duration::from_secs(10), || async {
        app.client
            .get_token(id)
            .await
            .ok()
            .and_then(|t| t.last_used_at)
    })
    .await;
    // The secret is never listed.
    let listed = serde_json::to_string(&app.client.list_tokens().await.unwrap()).unwrap();
    assert!(!listed.contains(&created.secret[4..]));
    // A second active token may not take the same name.
    let dup = app
        .client
        .create_token(&NewApiToken {
            name: "sis-sync".into(),
            role: OperatorRole::Auditor,
            expires_in_days: None,
        })
        .await
        .unwrap_err();
    assert_eq!(dup.status(), Some(409));

    let revoked = app.client.revoke_token(id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let err = bot.me().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let events = app
        .client
        .list_audit(&[("action", "token.")])
        .await
        .unwrap();
    let actions: Vec<&str> = events.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["token.revoke", "token.create"]);
    assert!(events.items.iter().all(|e| e.actor == "operator:admin"));
    app.stop().await;
}

async fn disabled_operators_tokens_stop_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin2, name, password) = app.operator_with_role(OperatorRole::Admin).await;
    let token = admin2
        .create_token(&NewApiToken {
            name: "ci".into(),
            role: OperatorRole::Operator,
            expires_in_days: None,
        })
        .await
        .unwrap();
    let bot = app.anonymous().with_token(&token.secret);
    assert_eq!(bot.me().await.unwrap().role, OperatorRole::Operator);
    let id = admin2.me().await.unwrap().operator_id;

    // Demoting the creator caps the token's role.
    app.client
        .update_operator(
            id,
            &OperatorPatch {
                role: Some(OperatorRole::Auditor),
                disabled: None,
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(bot.me().await.unwrap().role, OperatorRole::Auditor);
    assert_eq!(
        bot.create_user(&student("capped"))
            .await
            .unwrap_err()
            .status(),
        Some(403)
    );
    assert_eq!(
        admin2.list_operators().await.unwrap_err().status(),
        Some(403)
    );

    app.client
        .update_operator(
            id,
            &OperatorPatch {
                role: None,
                disabled: Some(true),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(admin2.me().await.unwrap_err().status(), Some(401));
    assert_eq!(bot.me().await.unwrap_err().status(), Some(401));
    let err = app.anonymous().login(&name, &password).await.unwrap_err();
    assert_eq!(err.problem().unwrap().code, "invalid_credentials");

    // Disabling ended the API token and the session for good: enabling again revives neither.
    app.client
        .update_operator(
            id,
            &OperatorPatch {
                role: None,
                disabled: Some(false),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(bot.me().await.unwrap_err().status(), Some(401));
    assert_eq!(admin2.me().await.unwrap_err().status(), Some(401));
    app.anonymous().login(&name, &password).await.unwrap();
    app.stop().await;
}

async fn token_roles_cannot_exceed_the_creator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = app
        .client
        .create_operator(&NewOperator {
            username: "ops".into(),
            password: "violet kettle ocean 42".into(),
            role: OperatorRole::Operator,
        })
        .await
        .unwrap();
    let principal = cc_service::Principal {
        name: "operator:ops".into(),
        operator_id: op.id,
        username: "ops".into(),
        role: OperatorRole::Operator,
        kind: cc_service::auth::PrincipalKind::Session {
            session_id: uuid::Uuid::nil(),
        },
    };
    let err = app
        .auth
        .create_api_token(
            &principal,
            NewApiToken {
                name: "too-much".into(),
                role: OperatorRole::Admin,
                expires_in_days: None,
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, cc_service::ServiceError::Validation(ref v) if v.0[0].field == "role"),
        "{err:?}"
    );
    let err = app
        .client
        .create_token(&NewApiToken {
            name: "forever".into(),
            role: OperatorRole::Auditor,
            expires_in_days: Some(10_000),
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    app.stop().await;
}

backend_tests!(
    forged_and_broken_access_tokens_are_refused,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_ends_the_session,
    api_tokens_work_until_revoked_and_record_use,
    disabled_operators_tokens_stop_working,
    token_roles_cannot_exceed_the_creator,
);
