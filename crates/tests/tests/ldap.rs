//! The LDAP target against a real OpenLDAP slapd: every operation, its dry run, re-runs that
//! converge, group membership, and an outage.

use cc_connectors::ldap::{LdapConfig, LdapTarget};
use cc_connectors::{ChangeKind, Operation, OperationRequest, Target, TargetLink, TargetOutcome};
use cc_domain::{new_id, now, User, UserStatus};
use cc_tests::ldap::{TestLdap, ADMIN_DN, ADMIN_PASSWORD};

const STUDENT_OU: &str = "ou={grade_label},ou={school},ou=Students,dc=example,dc=org";

fn config(ldap: &TestLdap, extra: &str) -> LdapConfig {
    let text = format!(
        r#"
        name = "test-ldap"
        url = "{url}"
        bind_dn = "{ADMIN_DN}"
        bind_password = "{ADMIN_PASSWORD}"
        base_dn = "dc=example,dc=org"
        user_ou = "{STUDENT_OU}"
        timeout_ms = 3000
        {extra}
        "#,
        url = ldap.url()
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

const LOCK: &str = r#"
    [disable]
    attribute = "pwdAccountLockedTime"
    value = "000001010000Z"
"#;

fn target(ldap: &TestLdap, extra: &str) -> LdapTarget {
    LdapTarget::new(&config(ldap, extra)).expect("valid config")
}

fn user(username: &str) -> User {
    let mut u = cc_tests::student(username)
        .into_user(new_id(), now())
        .expect("valid user");
    u.given_name = "Ada".into();
    u.family_name = "Lovelace".into();
    u.grade = Some(10);
    u.status = UserStatus::Active;
    u
}

fn dn_of(username: &str, grade: &str) -> String {
    format!("uid={username},ou={grade},ou=lincoln-hs,ou=Students,dc=example,dc=org")
}

fn kinds(o: &TargetOutcome) -> Vec<(ChangeKind, Option<String>)> {
    o.changes
        .iter()
        .map(|c| (c.kind, c.attribute.clone()))
        .collect()
}

async fn apply(t: &LdapTarget, req: &OperationRequest) -> TargetOutcome {
    t.apply(req)
        .await
        .unwrap_or_else(|e| panic!("{} failed: {e}", req.operation))
}

/// Applies, then checks that applying again changes nothing and the dry run agrees.
async fn apply_converged(t: &LdapTarget, req: &OperationRequest) -> TargetOutcome {
    let first = apply(t, req).await;
    let again = apply(t, req).await;
    assert!(
        again.is_noop(),
        "re-running {} changed {:?}",
        req.operation,
        again.changes
    );
    assert_eq!(again.account_id, first.account_id);
    let plan = t.plan(req).await.expect("plan");
    // A reset-password dry run cannot know whether the password is already set without a
    // test bind, which it does not make: it always shows the password change.
    let expected_noop = req.operation != Operation::ResetPassword;
    assert!(
        plan.is_noop() == expected_noop,
        "plan after {}: {:?}",
        req.operation,
        plan.changes
    );
    first
}

#[tokio::test]
async fn provision_creates_the_entry_under_the_templated_ou() {
    let ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let ada = user("ada.lovelace");
    let req =
        OperationRequest::new(Operation::Provision, ada.clone()).with_password("Initial-Pw-1");

    let plan = t.plan(&req).await.expect("plan");
    assert!(!plan.exists);
    let dn = dn_of("ada.lovelace", "grade-10");
    assert_eq!(plan.account_id.as_deref(), Some(dn.as_str()));
    let created: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.kind, c.object.clone()))
        .collect();
    assert_eq!(
        created,
        [
            (
                ChangeKind::Create,
                "ou=lincoln-hs,ou=Students,dc=example,dc=org".to_owned()
            ),
            (
                ChangeKind::Create,
                "ou=grade-10,ou=lincoln-hs,ou=Students,dc=example,dc=org".to_owned()
            ),
            (ChangeKind::Create, dn.clone()),
            (ChangeKind::SetPassword, dn.clone()),
        ]
    );
    assert!(ldap.entry(&dn).await.is_none(), "plan must not write");
    assert!(ldap
        .entry("ou=lincoln-hs,ou=Students,dc=example,dc=org")
        .await
        .is_none());

    let out = apply_converged(&t, &req).await;
    assert_eq!(out.account_id.as_deref(), Some(dn.as_str()));
    assert_eq!(out.changes.len(), 4);
    let e = ldap.entry(&dn).await.expect("entry exists");
    assert_eq!(e["uid"], ["ada.lovelace"]);
    assert_eq!(e["cn"], ["Ada Lovelace"]);
    assert_eq!(e["sn"], ["Lovelace"]);
    assert_eq!(e["givenname"], ["Ada"]);
    assert_eq!(e["mail"], ["ada.lovelace@students.example.org"]);
    assert_eq!(e["employeenumber"], ["SIS-ada.lovelace"]);
    assert_eq!(e["title"], ["student"]);
    assert_eq!(e["departmentnumber"], ["lincoln-hs"]);
    assert!(!e.contains_key("pwdaccountlockedtime"));
    assert!(ldap.can_bind(&dn, "Initial-Pw-1").await);
    assert!(!format!("{out:?}").contains("Initial-Pw-1"));
    assert_eq!(
        ldap.search("dc=example,dc=org", "(uid=ada.lovelace)")
            .await
            .len(),
        1
    );

    // Without a link and with a lost outcome, a retry still finds the entry by its uid.
    let link = TargetLink {
        account_id: dn.clone(),
        synced_at: None,
    };
    let with_link = OperationRequest::new(Operation::Provision, ada).with_link(link);
    assert!(apply(&t, &with_link).await.is_noop());
}

#[tokio::test]
async fn update_modifies_only_the_changed_attributes() {
    let ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let ada = user("ada");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()),
    )
    .await;
    let dn = dn_of("ada", "grade-10");
    let before = ldap.entry(&dn).await.unwrap();

    let mut married = ada.clone();
    married.family_name = "King".into();
    married.email = None;
    let req = OperationRequest::new(Operation::Update, married).with_previous(ada);
    let plan = t.plan(&req).await.unwrap();
    assert_eq!(
        ldap.entry(&dn).await.unwrap()["sn"],
        ["Lovelace"],
        "plan must not write"
    );

    let out = apply_converged(&t, &req).await;
    assert_eq!(
        out.changes, plan.changes,
        "the dry run said what the run did"
    );
    let mut changed: Vec<_> = kinds(&out)
        .into_iter()
        .map(|(k, a)| (k, a.unwrap()))
        .collect();
    changed.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        changed,
        [
            (ChangeKind::Modify, "cn".to_owned()),
            (ChangeKind::Modify, "displayName".to_owned()),
            (ChangeKind::Modify, "mail".to_owned()),
            (ChangeKind::Modify, "sn".to_owned()),
        ]
    );
    let sn = out
        .changes
        .iter()
        .find(|c| c.attribute.as_deref() == Some("sn"))
        .unwrap();
    assert_eq!(sn.from, Some("Lovelace".into()));
    assert_eq!(sn.to, Some("King".into()));
    let after = ldap.entry(&dn).await.unwrap();
    assert_eq!(after["sn"], ["King"]);
    assert_eq!(after["cn"], ["Ada King"]);
    assert!(!after.contains_key("mail"));
    assert_eq!(after["givenname"], before["givenname"]);
    assert_eq!(
        after["entryuuid"], before["entryuuid"],
        "modified, not re-created"
    );
}

#[tokio::test]
async fn grade_change_and_rename_move_the_entry() {
    let ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let ada = user("ada");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()),
    )
    .await;
    let old_dn = dn_of("ada", "grade-10");
    let uuid = ldap.entry(&old_dn).await.unwrap()["entryuuid"].clone();

    let mut promoted = ada.clone();
    promoted.grade = Some(11);
    let req = OperationRequest::new(Operation::Update, promoted.clone()).with_previous(ada);
    let plan = t.plan(&req).await.unwrap();
    assert!(plan.changes.iter().any(|c| c.kind == ChangeKind::Move));
    assert!(ldap.entry(&old_dn).await.is_some(), "plan must not move");

    let out = apply_converged(&t, &req).await;
    let new_dn = dn_of("ada", "grade-11");
    assert_eq!(out.account_id.as_deref(), Some(new_dn.as_str()));
    assert_eq!(
        kinds(&out)[0..2],
        [
            (ChangeKind::Create, Some("objectClass".into())),
            (ChangeKind::Move, None)
        ]
    );
    assert!(ldap.entry(&old_dn).await.is_none());
    assert_eq!(
        ldap.entry(&new_dn).await.unwrap()["entryuuid"],
        uuid,
        "moved, not re-created"
    );

    // A new username renames the entry; without a link it is found by the old username.
    let mut renamed = promoted.clone();
    renamed.username = "ada.king".into();
    let req = OperationRequest::new(Operation::Update, renamed).with_previous(promoted);
    let out = apply_converged(&t, &req).await;
    let renamed_dn = dn_of("ada.king", "grade-11");
    assert_eq!(out.account_id.as_deref(), Some(renamed_dn.as_str()));
    let e = ldap.entry(&renamed_dn).await.unwrap();
    assert_eq!(e["uid"], ["ada.king"], "the old uid value is replaced");
    assert_eq!(e["entryuuid"], uuid);
}

#[tokio::test]
async fn suspend_locks_with_ppolicy_and_update_reactivates() {
    let ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let ada = user("ada");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()).with_password("Pw-1-abc"),
    )
    .await;
    let dn = dn_of("ada", "grade-10");
    assert!(ldap.can_bind(&dn, "Pw-1-abc").await);

    let mut suspended = ada.clone();
    suspended.status = UserStatus::Suspended;
    let req = OperationRequest::new(Operation::Suspend, suspended.clone());
    let plan = t.plan(&req).await.unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert!(ldap.can_bind(&dn, "Pw-1-abc").await, "plan must not lock");
    let out = apply_converged(&t, &req).await;
    assert_eq!(
        kinds(&out),
        [(ChangeKind::Disable, Some("pwdAccountLockedTime".into()))]
    );
    assert_eq!(
        ldap.entry(&dn).await.unwrap()["pwdaccountlockedtime"],
        ["000001010000Z"]
    );
    assert!(
        !ldap.can_bind(&dn, "Pw-1-abc").await,
        "a locked account cannot bind"
    );

    // An update while suspended keeps the account disabled.
    let mut renamed = suspended.clone();
    renamed.given_name = "Augusta".into();
    let out = apply(
        &t,
        &OperationRequest::new(Operation::Update, renamed.clone()),
    )
    .await;
    assert!(out.changes.iter().all(|c| c.kind == ChangeKind::Modify));
    assert!(!ldap.can_bind(&dn, "Pw-1-abc").await);

    let mut active = renamed;
    active.status = UserStatus::Active;
    let out = apply_converged(&t, &OperationRequest::new(Operation::Update, active)).await;
    assert_eq!(
        kinds(&out),
        [(ChangeKind::Enable, Some("pwdAccountLockedTime".into()))]
    );
    assert!(ldap.can_bind(&dn, "Pw-1-abc").await);
}

#[tokio::test]
async fn suspend_moves_to_a_disabled_ou_with_a_marker_and_back() {
    let ldap = TestLdap::start().await;
    let extra = r#"
        attributes = { title = "" }
        [disable]
        move_to = "ou=Disabled,dc=example,dc=org"
        attribute = "title"
        value = "disabled"
    "#;
    let t = target(&ldap, extra);
    let ada = user("ada");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()),
    )
    .await;
    let home = dn_of("ada", "grade-10");
    let parked = "uid=ada,ou=Disabled,dc=example,dc=org";

    let out = apply_converged(&t, &OperationRequest::new(Operation::Suspend, ada.clone())).await;
    assert_eq!(out.account_id.as_deref(), Some(parked));
    assert!(ldap.entry(&home).await.is_none());
    assert_eq!(ldap.entry(parked).await.unwrap()["title"], ["disabled"]);

    // Reactivation: found by uid in the disabled OU, moved home, marker removed.
    let out = apply_converged(&t, &OperationRequest::new(Operation::Update, ada)).await;
    assert_eq!(out.account_id.as_deref(), Some(home.as_str()));
    assert!(ldap.entry(parked).await.is_none());
    assert!(!ldap.entry(&home).await.unwrap().contains_key("title"));
}

#[tokio::test]
async fn reset_password_sets_the_new_one_and_converges() {
    let ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let ada = user("ada");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()).with_password("Old-pw-1"),
    )
    .await;
    let dn = dn_of("ada", "grade-10");

    let req =
        OperationRequest::new(Operation::ResetPassword, ada.clone()).with_password("New-pw-2");
    let plan = t.plan(&req).await.unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert!(
        ldap.can_bind(&dn, "Old-pw-1").await,
        "plan must not change the password"
    );
    // Nor try it: a dry run makes no failed bind that would count towards a lockout.
    let entry = ldap.entry(&dn).await.unwrap();
    assert!(
        !entry.contains_key("pwdfailuretime"),
        "a dry run recorded a failed bind: {entry:?}"
    );
    let out = apply_converged(&t, &req).await;
    assert_eq!(kinds(&out), [(ChangeKind::SetPassword, None)]);
    assert!(ldap.can_bind(&dn, "New-pw-2").await);
    assert!(!ldap.can_bind(&dn, "Old-pw-1").await);
    let printed = format!("{out:?} {}", serde_json::to_string(&out).unwrap());
    assert!(!printed.contains("New-pw-2"));

    let no_pw = OperationRequest::new(Operation::ResetPassword, ada);
    assert!(!t.apply(&no_pw).await.unwrap_err().is_retryable());
    let ghost = OperationRequest::new(Operation::ResetPassword, user("nobody")).with_password("x");
    let e = t.apply(&ghost).await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("no account"), "{e}");
}

#[tokio::test]
async fn deprovision_deletes_or_moves_to_the_graveyard() {
    let ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let ada = user("ada");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()),
    )
    .await;
    let dn = dn_of("ada", "grade-10");
    let req = OperationRequest::new(Operation::Deprovision, ada);
    let out = apply_converged(&t, &req).await;
    assert_eq!(kinds(&out), [(ChangeKind::Delete, None)]);
    assert_eq!(out.account_id, None);
    assert!(ldap.entry(&dn).await.is_none());

    let graveyard = format!(
        "{LOCK}\n[deprovision]\nmode = \"move\"\ngraveyard_ou = \"ou=Graveyard,dc=example,dc=org\"\n"
    );
    let t = target(&ldap, &graveyard);
    let grace = user("grace");
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, grace.clone()).with_password("Pw-grace-1"),
    )
    .await;
    let out = apply_converged(&t, &OperationRequest::new(Operation::Deprovision, grace)).await;
    let buried = "uid=grace,ou=Graveyard,dc=example,dc=org";
    assert_eq!(out.account_id.as_deref(), Some(buried));
    let e = ldap.entry(buried).await.expect("moved to the graveyard");
    assert_eq!(e["pwdaccountlockedtime"], ["000001010000Z"]);
    assert!(!ldap.can_bind(buried, "Pw-grace-1").await);
    assert!(ldap.entry(&dn_of("grace", "grade-10")).await.is_none());
}

#[tokio::test]
async fn group_membership_follows_the_user() {
    let ldap = TestLdap::start().await;
    ldap.add(
        "cn=algebra-2,ou=Groups,dc=example,dc=org",
        &[
            ("objectClass", vec!["groupOfNames"]),
            ("cn", vec!["algebra-2"]),
            ("member", vec!["cn=placeholder"]),
        ],
    )
    .await;
    let extra = format!("{LOCK}\n[groups]\nbase = \"ou=Groups,dc=example,dc=org\"\n");
    let t = target(&ldap, &extra);
    let mut ada = user("ada");
    ada.groups = vec!["algebra-2".into(), "chess-club".into()];
    let out = apply_converged(
        &t,
        &OperationRequest::new(Operation::Provision, ada.clone()),
    )
    .await;
    let dn = dn_of("ada", "grade-10");
    assert!(out.changes.iter().any(|c| c.kind == ChangeKind::AddMember));
    assert_eq!(
        out.detail["skipped_groups"],
        serde_json::json!(["chess-club"])
    );
    let group = "cn=algebra-2,ou=Groups,dc=example,dc=org";
    assert!(ldap.entry(group).await.unwrap()["member"].contains(&dn));

    // A move rewrites the membership to the new DN.
    let mut moved = ada.clone();
    moved.grade = Some(11);
    apply_converged(
        &t,
        &OperationRequest::new(Operation::Update, moved.clone()).with_previous(ada),
    )
    .await;
    let members = ldap.entry(group).await.unwrap()["member"].clone();
    assert!(members.contains(&dn_of("ada", "grade-11")), "{members:?}");
    assert!(!members.contains(&dn), "{members:?}");

    // Leaving the group removes the membership.
    let mut left = moved.clone();
    left.groups = vec![];
    let out = apply_converged(&t, &OperationRequest::new(Operation::Update, left.clone())).await;
    assert_eq!(
        kinds(&out),
        [(ChangeKind::RemoveMember, Some("member".into()))]
    );
    assert_eq!(
        ldap.entry(group).await.unwrap()["member"],
        ["cn=placeholder"]
    );

    // With create_missing, a group that does not exist yet is created with the user in it.
    let t = target(&ldap, &format!("{extra}create_missing = true\n"));
    let mut joined = left;
    joined.groups = vec!["chess-club".into()];
    apply_converged(
        &t,
        &OperationRequest::new(Operation::Update, joined.clone()),
    )
    .await;
    let club = ldap
        .entry("cn=chess-club,ou=Groups,dc=example,dc=org")
        .await
        .expect("created");
    assert_eq!(club["member"], [dn_of("ada", "grade-11")]);

    // The last member can leave a groupOfNames (an empty placeholder value stays), and
    // deprovisioning removes memberships before deleting.
    let mut final_state = joined.clone();
    final_state.groups = vec!["algebra-2".into()];
    apply_converged(
        &t,
        &OperationRequest::new(Operation::Update, final_state.clone()),
    )
    .await;
    assert_eq!(
        ldap.entry("cn=chess-club,ou=Groups,dc=example,dc=org")
            .await
            .unwrap()["member"],
        [""]
    );
    apply_converged(
        &t,
        &OperationRequest::new(Operation::Deprovision, final_state),
    )
    .await;
    assert_eq!(
        ldap.entry(group).await.unwrap()["member"],
        ["cn=placeholder"]
    );
}

#[tokio::test]
async fn an_outage_is_retryable_and_the_retry_succeeds() {
    let mut ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    let req = OperationRequest::new(Operation::Provision, user("ada"));
    ldap.stop();
    let e = t.apply(&req).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(t.plan(&req).await.unwrap_err().is_retryable());
    assert!(!e.to_string().contains(ADMIN_PASSWORD));
    ldap.restart().await;
    let out = apply(&t, &req).await;
    assert!(!out.is_noop());
    assert!(ldap.entry(&dn_of("ada", "grade-10")).await.is_some());
}

#[tokio::test]
async fn rejected_credentials_are_permanent_and_never_echoed() {
    let ldap = TestLdap::start().await;
    let mut c = config(&ldap, LOCK);
    c.bind_password = Some("wrong-Secret-42".to_owned().into());
    let t = LdapTarget::new(&c).unwrap();
    let e = t
        .apply(&OperationRequest::new(Operation::Provision, user("ada")))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("invalid credentials"), "{e}");
    assert!(!e.to_string().contains("wrong-Secret-42"));
}

/// The same operations over StartTLS and over LDAPS, trusting the directory's certificate
/// through `tls_ca_file`; without that trust the connection is refused, never downgraded.
#[tokio::test]
async fn starttls_and_ldaps_with_a_trusted_certificate() {
    let ldap = TestLdap::start_tls().await;
    let ca = ldap.ca_file();
    let starttls = target(
        &ldap,
        &format!(
            "starttls = true\ntls_ca_file = \"{}\"\n{LOCK}",
            ca.display()
        ),
    );
    let ada = user("ada");
    let provision =
        OperationRequest::new(Operation::Provision, ada.clone()).with_password("Tls-pass-123");
    let out = apply(&starttls, &provision).await;
    assert_eq!(
        out.account_id.as_deref(),
        Some(dn_of("ada", "grade-10").as_str())
    );
    assert!(
        ldap.can_bind(&dn_of("ada", "grade-10"), "Tls-pass-123")
            .await
    );

    let mut c = config(
        &ldap,
        &format!("tls_ca_file = \"{}\"\n{LOCK}", ca.display()),
    );
    c.url = ldap.ldaps_url();
    let ldaps = LdapTarget::new(&c).expect("valid config");
    let plan = ldaps.plan(&provision).await.expect("plan over ldaps");
    assert!(plan.exists);
    let reset =
        OperationRequest::new(Operation::ResetPassword, ada.clone()).with_password("Tls-pass-456");
    apply(&ldaps, &reset).await;
    assert!(
        ldap.can_bind(&dn_of("ada", "grade-10"), "Tls-pass-456")
            .await
    );

    // The system's roots do not trust a self-signed certificate: refused.
    let mut untrusted = config(&ldap, LOCK);
    untrusted.url = ldap.ldaps_url();
    let err = LdapTarget::new(&untrusted)
        .expect("valid config")
        .plan(&provision)
        .await
        .expect_err("an untrusted certificate is refused");
    let msg = err.to_string().to_lowercase();
    assert!(
        msg.contains("certificate") || msg.contains("tls") || msg.contains("unknownissuer"),
        "{err}"
    );
}

/// Many jobs at once for people of a school the directory does not have yet, all joining
/// a group that does not exist yet: they race to create the same OUs and the same group, and
/// each converges on what the others created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_provisions_converge_on_the_same_new_ous_and_group() {
    const PEOPLE: usize = 16;
    let ldap = TestLdap::start().await;
    let extra = format!(
        "{LOCK}\n[groups]\nbase = \"ou=Groups,dc=example,dc=org\"\ncreate_missing = true\n"
    );
    let t = std::sync::Arc::new(target(&ldap, &extra));
    let runs = (0..PEOPLE).map(|i| {
        let t = t.clone();
        let mut u = user(&format!("p{i:02}"));
        u.school = Some("new-school".into());
        u.groups = vec!["new-club".into()];
        tokio::spawn(async move {
            t.apply(&OperationRequest::new(Operation::Provision, u))
                .await
        })
    });
    for r in futures::future::join_all(runs).await {
        r.expect("task").expect("every provision converges");
    }
    let members = &ldap
        .entry("cn=new-club,ou=Groups,dc=example,dc=org")
        .await
        .expect("group created")["member"];
    assert_eq!(members.len(), PEOPLE, "{members:?}");
    let ou = "ou=grade-10,ou=new-school,ou=Students,dc=example,dc=org";
    assert_eq!(ldap.search(ou, "(uid=p*)").await.len(), PEOPLE);
}

/// The group every test below joins, created beforehand with a placeholder member (a
/// groupOfNames needs one).
async fn club(ldap: &TestLdap) -> &'static str {
    let dn = "cn=club,ou=Groups,dc=example,dc=org";
    ldap.add(
        dn,
        &[
            ("objectClass", vec!["groupOfNames"]),
            ("cn", vec!["club"]),
            ("member", vec!["uid=placeholder,dc=example,dc=org"]),
        ],
    )
    .await;
    dn
}

/// Provisions `people` students into the club at once; returns their outcomes.
async fn provision_club(t: &std::sync::Arc<LdapTarget>, people: usize) -> Vec<TargetOutcome> {
    let runs = (0..people).map(|i| {
        let t = t.clone();
        let mut u = user(&format!("m{i:02}"));
        u.groups = vec!["club".into()];
        tokio::spawn(async move {
            t.apply(&OperationRequest::new(Operation::Provision, u))
                .await
        })
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("every provision converges"))
        .collect()
}

fn joined(o: &TargetOutcome) -> bool {
    o.changes.iter().any(|c| c.kind == ChangeKind::AddMember)
}

/// However many operations run at once, the target keeps to `max_connections` and reuses
/// its connections; and the new members of one group are added together: twenty students
/// provisioned at once through one connection take one connection and a few modifies of
/// the group, not twenty, and every one of them is in it.
#[tokio::test]
async fn concurrent_provisions_share_connections_and_group_writes() {
    const PEOPLE: usize = 20;
    let ldap = TestLdap::start().await;
    let group = club(&ldap).await;
    let t = std::sync::Arc::new(target(
        &ldap,
        &format!("max_connections = 1\n{LOCK}\n[groups]\nbase = \"ou=Groups,dc=example,dc=org\"\n"),
    ));
    let modifies = ldap.operations("Modify").await;
    let connections = ldap.connections_accepted().await;
    let outcomes = provision_club(&t, PEOPLE).await;
    // Less the connection that read the counter.
    let opened = ldap.connections_accepted().await - connections - 1;
    let group_writes = ldap.operations("Modify").await - modifies;
    assert_eq!(opened, 1, "one connection, reused by every operation");
    assert!(
        group_writes < (PEOPLE / 2) as u64,
        "{group_writes} modifies for {PEOPLE} new members"
    );
    assert!(
        outcomes.iter().all(joined),
        "each outcome reports its membership"
    );
    let members = &ldap.entry(group).await.expect("group")["member"];
    assert_eq!(members.len(), PEOPLE + 1, "{members:?}");
    for i in 0..PEOPLE {
        let dn = dn_of(&format!("m{i:02}"), "grade-10");
        assert!(members.contains(&dn), "{dn} is not in the group");
    }
}

/// A modify adding several members fails as a whole when one of them is there already:
/// then each is added on its own, and each operation gets the outcome it would have had
/// alone (the one already in the group reports no change to it).
#[tokio::test]
async fn a_member_already_in_the_group_does_not_fail_the_others() {
    const PEOPLE: usize = 6;
    let ldap = TestLdap::start().await;
    let group = club(&ldap).await;
    let already = dn_of("m03", "grade-10");
    let (driver, mut conn) = ldap3::LdapConnAsync::new(&ldap.url())
        .await
        .expect("connect");
    ldap3::drive!(driver);
    conn.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
        .await
        .and_then(ldap3::LdapResult::success)
        .expect("bind");
    let value = std::collections::HashSet::from([already.as_str()]);
    conn.modify(group, vec![ldap3::Mod::Add("member", value)])
        .await
        .and_then(ldap3::LdapResult::success)
        .expect("add the member beforehand");
    let t = std::sync::Arc::new(target(
        &ldap,
        &format!("max_connections = 1\n{LOCK}\n[groups]\nbase = \"ou=Groups,dc=example,dc=org\"\n"),
    ));
    let outcomes = provision_club(&t, PEOPLE).await;
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(joined(o), i != 3, "m{i:02}: {:?}", o.changes);
    }
    let members = &ldap.entry(group).await.expect("group")["member"];
    assert_eq!(members.len(), PEOPLE + 1, "each member once: {members:?}");
}

/// A directory restarted between two operations closed the pooled connection: the next
/// operation notices and connects again, without failing.
#[tokio::test]
async fn a_pooled_connection_closed_by_the_server_is_replaced() {
    let mut ldap = TestLdap::start().await;
    let t = target(&ldap, LOCK);
    apply(
        &t,
        &OperationRequest::new(Operation::Provision, user("ada")),
    )
    .await;
    ldap.restart().await;
    let out = apply(
        &t,
        &OperationRequest::new(Operation::Provision, user("bea")),
    )
    .await;
    assert!(!out.is_noop());
    assert!(ldap.entry(&dn_of("bea", "grade-10")).await.is_some());
}

/// An entry where the account would be created that is not this person's (the search filter
/// does not find it) is a permanent conflict that says so, and nothing is overwritten.
#[tokio::test]
async fn an_entry_that_is_someone_elses_is_a_clear_conflict() {
    let ldap = TestLdap::start().await;
    let t = target(
        &ldap,
        &format!("search_filter = \"(employeeNumber={{external_id}})\"\n{LOCK}"),
    );
    let req = OperationRequest::new(Operation::Provision, user("ada"));
    apply(&t, &req).await;
    let dn = dn_of("ada", "grade-10");
    // Another Ada, with another student number, gets the same DN.
    let mut other = user("ada");
    other.external_id = Some("SIS-someone-else".into());
    let e = t
        .apply(&OperationRequest::new(Operation::Provision, other))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.message()
            .contains("already exists and is not the account of ada"),
        "{e}"
    );
    let entry = ldap.entry(&dn).await.unwrap();
    assert_eq!(entry["employeenumber"], vec!["SIS-ada".to_owned()]);
}

/// The capability check reads the directory's schema: without the ppolicy overlay the
/// configured `pwdAccountLockedTime` does not exist, and the check, the dry run and the
/// operation all refuse with that reason before anything is written.
#[tokio::test]
async fn a_directory_without_ppolicy_is_refused_before_acting() {
    let ldap = TestLdap::start_without_ppolicy().await;
    let t = target(&ldap, LOCK);
    let e = t.check().await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    for part in ["pwdAccountLockedTime", "disable.attribute", "ppolicy"] {
        assert!(e.message().contains(part), "{part} missing from: {e}");
    }
    let ada = user("ada");
    let plan = t
        .plan(&OperationRequest::new(Operation::Suspend, ada.clone()))
        .await
        .unwrap_err();
    assert_eq!(plan.message(), e.message());
    let apply = t
        .apply(&OperationRequest::new(Operation::Provision, ada))
        .await
        .unwrap_err();
    assert_eq!(apply.message(), e.message());
    assert!(ldap.entry(&dn_of("ada", "grade-10")).await.is_none());

    // The same directory with a marker attribute it has: everything passes.
    let marker = "[disable]\nattribute = \"employeeType\"\nvalue = \"disabled\"\n";
    let ok = target(&ldap, marker).check().await.expect("capabilities");
    assert!(ok.contains("base dc=example,dc=org readable"), "{ok}");
    // With ppolicy the original configuration passes too.
    let full = TestLdap::start().await;
    target(&full, LOCK).check().await.expect("capabilities");
}

/// A wrong bind password is a permanent check failure that names the bind and never the
/// password; a wrong port is a retryable one.
#[tokio::test]
async fn the_check_names_a_bad_bind_or_an_unreachable_directory() {
    let ldap = TestLdap::start().await;
    let mut c = config(&ldap, LOCK);
    c.bind_password = Some("wrong-Secret-42".to_owned().into());
    let e = LdapTarget::new(&c).unwrap().check().await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.message().contains("bind as cn=admin"), "{e}");
    assert!(e.message().contains("invalid credentials"), "{e}");
    assert!(!e.message().contains("wrong-Secret-42"));

    let mut c = config(&ldap, LOCK);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    c.url = format!("ldap://127.0.0.1:{port}");
    let e = LdapTarget::new(&c).unwrap().check().await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.message().contains(&format!("127.0.0.1:{port}")), "{e}");
}
