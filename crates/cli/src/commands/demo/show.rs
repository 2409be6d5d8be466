//! How the demo talks: step headings, plain-language narration, the pause between steps, and
//! every API call it makes, printed first as the equivalent `curl` and `command-center`
//! commands so an instructor can repeat it by hand.

use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::Value;

/// Prints the story and makes its calls.
pub struct Narrator {
    client: cc_client::Client,
    pace: Option<Duration>,
    step: usize,
}

/// One API call, with the command-line form that does the same.
pub struct Call<'a> {
    pub method: Method,
    /// Path and query under the server root, e.g. `/api/v1/users?q=ada`.
    pub path: String,
    pub body: Option<Body<'a>>,
    /// The `command-center` command that does the same, when there is one.
    pub cli: Option<String>,
}

/// A request body: JSON, or a file uploaded as it is.
pub enum Body<'a> {
    Json(Value),
    File { path: &'a str, bytes: Vec<u8> },
}

impl<'a> Call<'a> {
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            cli: None,
        }
    }

    #[must_use]
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    #[must_use]
    pub fn file(mut self, path: &'a str, bytes: Vec<u8>) -> Self {
        self.body = Some(Body::File { path, bytes });
        self
    }

    #[must_use]
    pub fn cli(mut self, command: impl Into<String>) -> Self {
        self.cli = Some(command.into());
        self
    }

    /// The `curl` command that makes this call against `$CC_URL` with `$CC_TOKEN`.
    pub fn curl(&self) -> String {
        let mut s = String::from("curl -s");
        if self.method != Method::GET {
            s.push_str(&format!(" -X {}", self.method));
        }
        s.push_str(" -H \"authorization: Bearer $CC_TOKEN\"");
        match &self.body {
            Some(Body::Json(v)) => {
                s.push_str(" -H 'content-type: application/json' -d ");
                s.push_str(&shell_quote(&v.to_string()));
            }
            Some(Body::File { path, .. }) => {
                s.push_str(&format!(" --data-binary @{}", shell_quote(path)));
            }
            None => {}
        }
        s.push_str(&format!(" \"$CC_URL{}\"", self.path));
        s
    }
}

/// `s` as one single-quoted shell word (unquoted when it needs no quoting).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Narrator {
    pub fn new(client: cc_client::Client, pace: Option<Duration>) -> Self {
        Self {
            client,
            pace,
            step: 0,
        }
    }

    pub fn client(&self) -> &cc_client::Client {
        &self.client
    }

    /// Starts the next step: waits the pace (not before the first), then prints its title.
    pub async fn step(&mut self, title: &str) {
        if self.step > 0 {
            if let Some(pace) = self.pace {
                tokio::time::sleep(pace).await;
            }
        }
        self.step += 1;
        println!("\n== Step {}: {title} ==\n", self.step);
    }

    /// Plain-language narration, as its own paragraph.
    pub fn say(&self, text: &str) {
        println!("{text}");
    }

    /// What was found, indented under the command that found it.
    pub fn show(&self, text: &str) {
        for line in text.lines() {
            println!("    {line}");
        }
    }

    /// A shell command the operator can run on this machine (no API call behind it).
    pub fn shell(&self, command: &str) {
        println!("  $ {command}");
    }

    /// Prints the call as commands, makes it, and answers the JSON body.
    pub async fn call(&self, call: Call<'_>) -> anyhow::Result<Value> {
        self.print(&call);
        self.send(call).await
    }

    /// Makes the call without printing it (waiting, polling).
    pub async fn quiet(&self, call: Call<'_>) -> anyhow::Result<Value> {
        self.send(call).await
    }

    fn print(&self, call: &Call<'_>) {
        println!("  $ {}", call.curl());
        if let Some(cli) = &call.cli {
            println!("  $ {cli}");
        }
    }

    async fn send(&self, call: Call<'_>) -> anyhow::Result<Value> {
        let what = format!("{} {}", call.method, call.path);
        let mut rb = self.client.request(call.method, &call.path);
        match call.body {
            Some(Body::Json(v)) => rb = rb.json(&v),
            Some(Body::File { bytes, .. }) => {
                rb = rb
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes);
            }
            None => {}
        }
        let res = rb
            .send()
            .await
            .with_context(|| format!("{what}: no answer"))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            anyhow::bail!(
                "{what} answered {status}: {} (code {}, request {})",
                problem["detail"].as_str().unwrap_or(&text),
                problem["code"].as_str().unwrap_or("-"),
                problem["request_id"].as_str().unwrap_or("-"),
            );
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{what}: the answer is not JSON"))
    }

    /// Polls the job until it has ended (completed, cancelled or discarded) and answers it.
    pub async fn wait_job(&self, id: i64) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.quiet(Call::get(format!("/api/v1/jobs/{id}"))).await?;
            if matches!(
                job["state"].as_str(),
                Some("completed" | "cancelled" | "discarded")
            ) {
                return Ok(job);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "job {id} did not finish within 2 minutes (state {}); are workers running?",
                job["state"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_lines_quote_json_bodies_for_the_shell() {
        let call = Call::new(Method::PATCH, "/api/v1/users/1")
            .json(serde_json::json!({"family_name": "O'Brien"}));
        assert_eq!(
            call.curl(),
            r#"curl -s -X PATCH -H "authorization: Bearer $CC_TOKEN" -H 'content-type: application/json' -d '{"family_name":"O'\''Brien"}' "$CC_URL/api/v1/users/1""#
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("roster.csv"), "roster.csv");
    }
}
