//! Jobs, batches and the job event stream.

use cc_domain::{BatchProgress, Job, JobDetail, JobEvent, Page};
use reqwest::Method;
use uuid::Uuid;

use crate::{error_from, Client, ClientError, Result};

impl Client {
    /// `GET /api/v1/jobs` with filters such as `[("state", "completed"), ("kind", "system.noop")]`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn list_jobs(&self, query: &[(&str, &str)]) -> Result<Page<Job>> {
        self.send(self.api(Method::GET, "/jobs").query(query)).await
    }

    /// `GET /api/v1/jobs/{id}`: the job with its history.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn get_job(&self, id: i64) -> Result<JobDetail> {
        self.send(self.api(Method::GET, &format!("/jobs/{id}")))
            .await
    }

    /// `POST /api/v1/jobs/{id}/cancel`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn cancel_job(&self, id: i64) -> Result<Job> {
        self.send(self.api(Method::POST, &format!("/jobs/{id}/cancel")))
            .await
    }

    /// `POST /api/v1/jobs/{id}/retry`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn retry_job(&self, id: i64) -> Result<Job> {
        self.send(self.api(Method::POST, &format!("/jobs/{id}/retry")))
            .await
    }

    /// `GET /api/v1/batches/{id}`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn get_batch(&self, id: Uuid) -> Result<BatchProgress> {
        self.send(self.api(Method::GET, &format!("/batches/{id}")))
            .await
    }

    /// `POST /api/v1/batches/{id}/retry`: re-drives the batch's discarded jobs. Answers
    /// `{"batch_id", "retried": [job ids]}`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn retry_batch(&self, id: Uuid) -> Result<serde_json::Value> {
        self.send(self.api(Method::POST, &format!("/batches/{id}/retry")))
            .await
    }

    /// `POST /api/v1/jobs/ping`: enqueues a `system.noop` job (a queue round trip).
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn ping_job(&self) -> Result<Job> {
        self.send(self.api(Method::POST, "/jobs/ping")).await
    }

    /// `POST /api/v1/targets/check`: checks every lifecycle target now.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn check_targets(&self) -> Result<serde_json::Value> {
        self.send(self.api(Method::POST, "/targets/check")).await
    }

    /// Opens `GET /api/v1/events`, resuming after `last_event_id` when given. The stream has
    /// no request timeout.
    ///
    /// # Errors
    /// Any API or transport error while opening.
    pub async fn job_events(&self, last_event_id: Option<i64>) -> Result<JobEventStream> {
        let mut rb = self
            .http
            .get(format!("{}/api/v1/events", self.base))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id.to_string());
        }
        let res = rb.send().await?;
        if !res.status().is_success() {
            return Err(error_from(res).await);
        }
        Ok(JobEventStream {
            res,
            buf: String::new(),
        })
    }
}

/// An open event stream; read it with [`JobEventStream::next`].
pub struct JobEventStream {
    res: reqwest::Response,
    buf: String,
}

impl JobEventStream {
    /// The next job event, or `None` when the server closed the stream. Notices (events
    /// named `import` or `target`) are passed over.
    ///
    /// # Errors
    /// Transport errors, or an event whose data is not a job event.
    pub async fn next(&mut self) -> Result<Option<JobEvent>> {
        loop {
            match self.next_event().await? {
                Some(cc_domain::StreamEvent::Job(e)) => return Ok(Some(e)),
                Some(cc_domain::StreamEvent::Notice(_)) => {}
                None => return Ok(None),
            }
        }
    }

    /// The next event of any kind — a job event or a notice (`import`, `target`) — or
    /// `None` when the server closed the stream. Events of other names are passed over.
    ///
    /// # Errors
    /// Transport errors, or an event whose data does not match its name.
    pub async fn next_event(&mut self) -> Result<Option<cc_domain::StreamEvent>> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let name = block
                    .lines()
                    .find_map(|l| l.strip_prefix("event:"))
                    .map_or("message", str::trim);
                let data = data.join("\n");
                let bad =
                    |e: serde_json::Error| ClientError::Status(200, format!("bad event: {e}"));
                return match name {
                    "job" => serde_json::from_str(&data)
                        .map(|e| Some(cc_domain::StreamEvent::Job(e)))
                        .map_err(bad),
                    "import" | "target" => serde_json::from_str(&data)
                        .map(|n| Some(cc_domain::StreamEvent::Notice(n)))
                        .map_err(bad),
                    _ => continue,
                };
            }
            match self.res.chunk().await? {
                Some(bytes) => self
                    .buf
                    .push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
                None => return Ok(None),
            }
        }
    }
}
