//! `docs/security.md` shows the permission table as the code declares it.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

const BEGIN: &str = "<!-- permissions:begin (generated from crates/api/src/auth/permissions.rs; CC_UPDATE_DOCS=1 cargo test -p cc-tests --test auth_docs rewrites it) -->\n";
const END: &str = "<!-- permissions:end -->";

#[test]
fn security_doc_lists_the_permission_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/security.md");
    let doc = std::fs::read_to_string(&path).expect("docs/security.md");
    let start = doc.find(BEGIN).expect("the begin marker") + BEGIN.len();
    let end = doc.find(END).expect("the end marker");
    let expected = cc_api::auth::permissions::markdown_table();
    if doc[start..end] != expected {
        if std::env::var_os("CC_UPDATE_DOCS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).expect("write docs/security.md");
            return;
        }
        panic!(
            "docs/security.md's permission table is out of date; run with CC_UPDATE_DOCS=1 or paste:\n{expected}"
        );
    }
}
