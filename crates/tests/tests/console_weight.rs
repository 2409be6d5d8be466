//! The console's page weight: a first visit to each main page (its HTML plus every embedded
//! asset it refers to, none cached yet) stays under the budget, with full pages of content.
//! A size, not a time: it holds in a debug build as in a release one.

use cc_console::weight::{asset_references, LIMIT_BYTES};
use cc_tests::{student, test_config, Backend, TestApp};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Signs in as `admin` through the form and returns the `Cookie` header value.
async fn sign_in(app: &TestApp) -> String {
    let res = http()
        .post(format!("{}/login", app.base_url))
        .form(&[
            ("username", "admin"),
            ("password", app.admin_password.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/");
    let set = res.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// (HTML bytes, the assets it refers to, their bytes).
async fn weigh(app: &TestApp, cookie: &str, path: &str) -> (usize, Vec<String>, usize) {
    let res = http()
        .get(format!("{}{path}", app.base_url))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    assert!(
        res.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{path}"
    );
    let html = res.text().await.unwrap();
    let assets = asset_references(&html);
    let mut asset_bytes = 0;
    for a in &assets {
        // Assets need no sign-in: a first visit fetches them like this.
        let res = http()
            .get(format!("{}{a}", app.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{a} referred to by {path}");
        asset_bytes += res.bytes().await.unwrap().len();
    }
    (html.len(), assets, asset_bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_pages_with_their_assets_stay_under_the_budget() {
    let app = TestApp::spawn_console(Backend::Sqlite, test_config()).await;
    let dir = cc_service::Directory::new(app.store.clone());
    cc_service::seed::demo(&dir).await.unwrap();
    // More people than one page shows, so the People page is full.
    let actor = cc_domain::Actor::system("test");
    let mut person = None;
    for i in 0..120 {
        let u = dir
            .create_user(&actor, student(&format!("weigh{i:04}")))
            .await
            .unwrap();
        person.get_or_insert(u.id);
    }
    for _ in 0..5 {
        app.client.ping_job().await.unwrap();
    }
    let cookie = sign_in(&app).await;
    let person_page = format!("/people/{}", person.unwrap());
    let mut report = Vec::new();
    for path in ["/", "/people", person_page.as_str(), "/jobs", "/status"] {
        let (html, assets, asset_bytes) = weigh(&app, &cookie, path).await;
        // Every page has the stylesheet and the script; a page referring to none would weigh
        // less than a visit downloads.
        assert!(
            assets.iter().any(|a| a.ends_with(".css")) && assets.iter().any(|a| a.ends_with(".js")),
            "{path} refers to {assets:?}"
        );
        assert!(asset_bytes > 0);
        report.push((path.to_owned(), html, asset_bytes, html + asset_bytes));
    }
    for (path, html, assets, total) in &report {
        eprintln!("{path:<50} {html:>8} B HTML {assets:>8} B assets {total:>8} B");
        assert!(
            *total <= LIMIT_BYTES,
            "{path}: {html} B of HTML + {assets} B of assets = {total} B, over {LIMIT_BYTES} B; all: {report:?}"
        );
    }
    app.stop().await;
}
