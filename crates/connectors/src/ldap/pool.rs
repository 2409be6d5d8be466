//! The target's bound connections, reused from one operation to the next: at most
//! `max_connections` are open (or being opened) at once, so at most that many operations
//! are in flight on the directory however many jobs the workers run; an operation beyond
//! that waits for a connection to come back. A connection is reused only while it is known
//! to be open and has been idle less than [`MAX_IDLE`] (servers and firewalls drop idle
//! connections); one that saw a retryable failure is closed rather than reused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::session::{Endpoint, Session};
use crate::config::expose;
use crate::TargetError;

/// A connection idle for longer is closed instead of reused.
pub(crate) const MAX_IDLE: Duration = Duration::from_secs(60);

struct Idle {
    session: Session,
    since: Instant,
}

pub(crate) struct Pool {
    permits: Semaphore,
    idle: Mutex<Vec<Idle>>,
    bind_dn: String,
    bind_password: SecretString,
}

/// A connection lent to one operation, with its share of the limit. Dropped without
/// [`Lease::finish`], the connection is closed.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    session: Option<Session>,
    _permit: SemaphorePermit<'a>,
    /// Whether the connection served an earlier operation.
    pub reused: bool,
}

impl Pool {
    pub fn new(max_connections: u32, bind_dn: String, bind_password: SecretString) -> Self {
        Self {
            permits: Semaphore::new(usize::try_from(max_connections).unwrap_or(usize::MAX)),
            idle: Mutex::new(Vec::new()),
            bind_dn,
            bind_password,
        }
    }

    /// An open, bound connection: the most recently returned idle one, else a new one.
    pub async fn get<'a>(&'a self, endpoint: &Endpoint) -> Result<Lease<'a>, TargetError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| TargetError::retryable("the LDAP connection pool is closed"))?;
        while let Some(mut idle) = self.take_idle() {
            if idle.since.elapsed() < MAX_IDLE && !idle.session.is_closed() {
                return Ok(Lease {
                    pool: self,
                    session: Some(idle.session),
                    _permit: permit,
                    reused: true,
                });
            }
            idle.session.close().await;
        }
        let session = endpoint
            .bind(&self.bind_dn, expose(&self.bind_password))
            .await?;
        Ok(Lease {
            pool: self,
            session: Some(session),
            _permit: permit,
            reused: false,
        })
    }

    fn take_idle(&self) -> Option<Idle> {
        self.idle.lock().ok()?.pop()
    }

    fn put_idle(&self, session: Session) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(Idle {
                session,
                since: Instant::now(),
            });
        }
    }
}

impl Lease<'_> {
    pub fn session(&mut self) -> &mut Session {
        self.session
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its session until it ends"))
    }

    /// Whether an operation that ended with `result` is worth one more try on another
    /// connection: it failed on a reused connection that turns out to be closed (the
    /// server or a firewall dropped it while it was idle). Operations converge, so running
    /// one again is safe. Dropping the lease then closes the connection.
    pub fn went_stale<T>(&mut self, result: &Result<T, TargetError>) -> bool {
        result.is_err() && self.reused && self.session.as_mut().is_none_or(Session::is_closed)
    }

    /// Returns the connection to the pool after an operation that ended with `result`;
    /// closes it instead when it is gone or the failure was one a retry could get past (a
    /// timeout or a transport error may leave it in an unknown state).
    pub async fn finish<T>(mut self, result: &Result<T, TargetError>) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        let keep = !matches!(result, Err(TargetError::Retryable { .. })) && !session.is_closed();
        if keep {
            self.pool.put_idle(session);
        } else {
            session.close().await;
        }
    }
}
