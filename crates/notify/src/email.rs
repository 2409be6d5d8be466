//! Email over SMTP (lettre): STARTTLS, implicit TLS or plain (loopback relays), with
//! authentication when a username is configured.

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::channel::{Channel, SendError};
use crate::config::{read_secret, EmailConfig, SmtpSecurity};
use crate::message::Message;

/// Subject lines are cut to this many characters.
const MAX_SUBJECT_CHARS: usize = 200;

pub struct EmailChannel {
    name: String,
    endpoint: String,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl EmailChannel {
    /// Builds the channel (reads the password file, parses the addresses).
    ///
    /// # Errors
    /// An unreadable file or a malformed address or certificate.
    pub fn build(
        name: &str,
        c: &EmailConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, String> {
        let parse = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("email address {a:?}: {e}"))
        };
        let from = parse(&c.from)?;
        let to =
            c.to.iter()
                .map(|a| parse(a))
                .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err("`to` needs at least one address".into());
        }
        let tls = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(c.host.clone());
            if let Some(path) = &c.ca_file {
                let pem =
                    std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                b = b.add_root_certificate(cert);
            }
            b.build().map_err(|e| format!("TLS settings: {e}"))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host)
            .port(c.port)
            .timeout(Some(timeout));
        builder = match c.security {
            SmtpSecurity::Starttls => builder.tls(Tls::Required(tls()?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls()?)),
            SmtpSecurity::None => builder.tls(Tls::None),
        };
        if let Some(user) = &c.username {
            let password =
                read_secret("password", c.password.as_ref(), c.password_file.as_deref())?;
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            endpoint: format!("{}:{}", c.host, c.port),
            from,
            to,
            transport: builder.build(),
        })
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "email"
    }

    async fn check(&self) -> Result<String, String> {
        // Connects, says EHLO, upgrades to TLS and authenticates as configured; sends nothing.
        match self.transport.test_connection().await {
            Ok(true) => Ok(format!(
                "SMTP {} answered (EHLO, TLS and login as configured)",
                self.endpoint
            )),
            Ok(false) => Err(format!(
                "SMTP {} did not accept the connection",
                self.endpoint
            )),
            Err(e) => Err(format!("SMTP {}: {e}", self.endpoint)),
        }
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let subject: String = format!("[Command Center] {}", message.title)
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_SUBJECT_CHARS)
            .collect();
        let mut b = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject);
        for to in &self.to {
            b = b.to(to.clone());
        }
        let mail = b
            .header(ContentType::TEXT_PLAIN)
            .body(message.plain_text())
            .map_err(|e| SendError::Permanent(format!("building the message: {e}")))?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Retryable {
                message: format!("SMTP: {e}"),
                after: None,
            }),
        }
    }
}
