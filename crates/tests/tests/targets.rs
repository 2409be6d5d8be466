//! Script, webhook and SCIM targets, run for real: processes on this machine, an HTTP
//! receiver and a SCIM service provider on 127.0.0.1.

#[path = "targets/scim.rs"]
mod scim;
#[path = "targets/script.rs"]
mod script;
#[path = "targets/webhook.rs"]
mod webhook;

use cc_domain::{new_id, now, User, UserStatus};

pub fn user(username: &str) -> User {
    let mut u = cc_tests::student(username)
        .into_user(new_id(), now())
        .expect("valid user");
    u.status = UserStatus::Active;
    u
}
