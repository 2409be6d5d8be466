//! Client methods for `/api/v1/imports`.

use cc_domain::{ImportRun, Page};
use reqwest::Method;
use uuid::Uuid;

use crate::{error_from, Client, Result};

impl Client {
    /// `POST /api/v1/imports` with the file as the raw body. Returns the HTTP status (201
    /// finished, 202 still running) and the run.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn upload_import(
        &self,
        file_name: &str,
        content: Vec<u8>,
        query: &[(&str, &str)],
    ) -> Result<(u16, ImportRun)> {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("file_name", file_name));
        let rb = self
            .request(Method::POST, "/api/v1/imports")
            .query(&q)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(content);
        status_and_run(rb).await
    }

    /// `POST /api/v1/imports` as a multipart form with a `file` part.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn upload_import_multipart(
        &self,
        file_name: &str,
        content: Vec<u8>,
        query: &[(&str, &str)],
    ) -> Result<(u16, ImportRun)> {
        let part = reqwest::multipart::Part::bytes(content).file_name(file_name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        let rb = self
            .request(Method::POST, "/api/v1/imports")
            .query(query)
            .multipart(form);
        status_and_run(rb).await
    }

    /// `POST /api/v1/imports/{id}/apply`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn apply_import(&self, id: Uuid, query: &[(&str, &str)]) -> Result<(u16, ImportRun)> {
        let rb = self
            .request(Method::POST, &format!("/api/v1/imports/{id}/apply"))
            .query(query);
        status_and_run(rb).await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_import(&self, id: Uuid) -> Result<ImportRun> {
        self.send(self.api(Method::GET, &format!("/imports/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn list_imports(&self, query: &[(&str, &str)]) -> Result<Page<ImportRun>> {
        self.send(self.api(Method::GET, "/imports").query(query))
            .await
    }

    /// `GET /api/v1/imports/{id}/errors.csv`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn import_errors_csv(&self, id: Uuid) -> Result<String> {
        let res = self
            .request(Method::GET, &format!("/api/v1/imports/{id}/errors.csv"))
            .send()
            .await?;
        if res.status().is_success() {
            Ok(res.text().await?)
        } else {
            Err(error_from(res).await)
        }
    }
}

async fn status_and_run(rb: reqwest::RequestBuilder) -> Result<(u16, ImportRun)> {
    let res = rb.send().await?;
    let status = res.status();
    if status.is_success() {
        Ok((status.as_u16(), res.json().await?))
    } else {
        Err(error_from(res).await)
    }
}
