//! The harness itself works on both backends.

use cc_tests::{backend_tests, student, Backend, TestApp};

async fn create_and_read_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .client
        .create_user(&student("ada"))
        .await
        .expect("create");
    let read = app.client.get_user(created.id).await.expect("read back");
    assert_eq!(created, read);
    app.stop().await;
}

backend_tests!(create_and_read_back);
