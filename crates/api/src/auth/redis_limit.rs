//! Shared counters in Redis: one atomic script increments a key and sets its expiry on the
//! first hit of a window, returning the count and the time left.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

const SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if c == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {c, ttl}
";

/// How long to wait for Redis before counting locally.
const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, how long to count locally before trying Redis again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How often the fallback is logged at most.
const WARN_EVERY: Duration = Duration::from_secs(30);

pub(crate) struct RedisLimiter {
    client: redis::Client,
    prefix: String,
    script: redis::Script,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    conn: Option<ConnectionManager>,
    down_until: Option<Instant>,
    last_warning: Option<Instant>,
}

impl RedisLimiter {
    pub(crate) fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            script: redis::Script::new(SCRIPT),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The count in this window and the time left, or `None` when Redis is unavailable.
    pub(crate) async fn hit(&self, key: &str, window: Duration) -> Option<(u64, Duration)> {
        let mut conn = self.connection().await?;
        let ms = u64::try_from(window.as_millis()).unwrap_or(60_000);
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation.arg(ms);
        let call = invocation.invoke_async::<(i64, i64)>(&mut conn);
        match tokio::time::timeout(TIMEOUT, call).await {
            Ok(Ok((count, ttl))) => Some((
                u64::try_from(count).unwrap_or(0),
                Duration::from_millis(u64::try_from(ttl).unwrap_or(0)),
            )),
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("no answer in time"),
        }
    }

    /// Whether Redis answers a PING now (for readiness), with the round trip's error.
    pub(crate) async fn ping(&self) -> Result<(), String> {
        let mut conn = self
            .connection()
            .await
            .ok_or_else(|| "unreachable; rate limits are counted per instance".to_owned())?;
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        match tokio::time::timeout(TIMEOUT * 4, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer in time".into()),
        }
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        {
            let st = self.state();
            if let Some(c) = &st.conn {
                return Some(c.clone());
            }
            if st.down_until.is_some_and(|t| Instant::now() < t) {
                return None;
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(TIMEOUT * 4, connect).await {
            Ok(Ok(c)) => {
                let mut st = self.state();
                if st.down_until.take().is_some() {
                    tracing::info!("Redis reachable again; rate limits are shared across replicas");
                }
                st.conn = Some(c.clone());
                Some(c)
            }
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("connection timed out"),
        }
    }

    fn failed<T>(&self, why: &str) -> Option<T> {
        let now = Instant::now();
        let mut st = self.state();
        st.conn = None;
        st.down_until = Some(now + RETRY_AFTER);
        if st
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            st.last_warning = Some(now);
            tracing::warn!(
                error = why,
                "Redis unreachable; counting rate limits on this instance only until it is back"
            );
        }
        None
    }
}
