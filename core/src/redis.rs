//! Redis: connection (mandatory, fail fast) and the per-account sliding-window rate limiter.
//!
//! Redis is required: there is no in-memory fallback, because a fallback would let N workers each
//! believe they own the whole Instagram budget. When Redis is unreachable at runtime the limiter
//! returns an error and the worker **defers** the send (never sends unthrottled).

use std::time::Duration;

use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};

/// Connects and checks the server answers `PING` within 3 s.
///
/// # Errors
/// Malformed URL, connection refused, auth failure or timeout.
pub async fn connect(url: &SecretString) -> anyhow::Result<ConnectionManager> {
    let client =
        redis::Client::open(url.expose_secret()).map_err(|e| anyhow::anyhow!("invalid REDIS_URL: {}", e.kind_str()))?;
    let cfg = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(3))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(1);
    let mut cm = tokio::time::timeout(Duration::from_secs(4), ConnectionManager::new_with_config(client, cfg))
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within 4 s"))?
        .map_err(|e| anyhow::anyhow!("cannot connect to Redis: {}", e.kind_str()))?;
    ping(&mut cm).await?;
    Ok(cm)
}

trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for redis::RedisError {
    // The Display of a RedisError can include the URL; log the category and detail only.
    fn kind_str(&self) -> String {
        format!("{:?}{}", self.kind(), self.detail().map(|d| format!(": {d}")).unwrap_or_default())
    }
}

/// `PING` with a 2 s timeout.
///
/// # Errors
/// Redis unreachable.
pub async fn ping(cm: &mut ConnectionManager) -> anyhow::Result<()> {
    let pong: String = tokio::time::timeout(Duration::from_secs(2), redis::cmd("PING").query_async(cm))
        .await
        .map_err(|_| anyhow::anyhow!("Redis PING timed out"))?
        .map_err(|e| anyhow::anyhow!("Redis PING failed: {}", e.kind_str()))?;
    anyhow::ensure!(pong == "PONG", "unexpected PING reply");
    Ok(())
}

/// Sliding-window log in a sorted set, in one atomic script using the server's clock: a cool-down
/// key (set when Meta reports high usage or throttles) holds everything until it expires; else
/// drop entries older than the window; if fewer than `limit` remain, record this call and allow;
/// otherwise answer how long (µs) until the oldest entry leaves the window.
const SLIDING_WINDOW: &str = r"
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local member = ARGV[3]
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 then return cool * 1000 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now - window_us))
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, string.format('%d', now), member)
  redis.call('PEXPIRE', key, string.format('%d', math.ceil(window_us / 1000) + 1000))
  return 0
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window_us - now
if wait < 1000 then wait = 1000 end
return wait
";

/// The two Instagram send lanes (Meta: 100/s text, 10/s audio/video per account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Text,
    Media,
}

impl Lane {
    /// Label for keys and metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Media => "media",
        }
    }
}

/// Result of asking the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Try again after this long.
    Throttled(Duration),
}

/// Distributed per-account limiter shared by every worker.
#[derive(Clone)]
pub struct RateLimiter {
    redis: ConnectionManager,
    prefix: String,
    script: redis::Script,
}

impl RateLimiter {
    /// A limiter whose keys start with `prefix`.
    #[must_use]
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self { redis, prefix: prefix.to_owned(), script: redis::Script::new(SLIDING_WINDOW) }
    }

    /// Asks for one call in `lane` of `scope` (an account id), at most `limit` per `window`.
    ///
    /// # Errors
    /// Redis unreachable: the caller must defer, not send.
    pub async fn admit(&self, scope: &str, lane: Lane, limit: u32, window: Duration) -> anyhow::Result<Admission> {
        let key = format!("{}rl:{scope}:{}", self.prefix, lane.as_str());
        let cool = format!("{}rl:{scope}:cooldown", self.prefix);
        let member = uuid::Uuid::new_v4().to_string();
        let mut conn = self.redis.clone();
        let wait_us: i64 = tokio::time::timeout(
            Duration::from_secs(2),
            self.script
                .key(key)
                .key(cool)
                .arg(limit)
                .arg(window.as_micros() as u64)
                .arg(member)
                .invoke_async(&mut conn),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis rate limiter timed out"))?
        .map_err(|e| anyhow::anyhow!("Redis rate limiter failed: {}", e.kind_str()))?;
        Ok(if wait_us <= 0 { Admission::Allowed } else { Admission::Throttled(Duration::from_micros(wait_us as u64)) })
    }

    /// Holds every lane of `scope` for `pause` (Meta reported high usage or throttled us), across
    /// all workers. A longer existing pause is kept.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn cool_down(&self, scope: &str, pause: Duration) -> anyhow::Result<()> {
        let key = format!("{}rl:{scope}:cooldown", self.prefix);
        let mut conn = self.redis.clone();
        let ms = pause.as_millis().max(1) as u64;
        let _: () = tokio::time::timeout(
            Duration::from_secs(2),
            redis::Script::new(
                "local t = redis.call('PTTL', KEYS[1]) if t < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end return 0",
            )
            .key(key)
            .arg(ms)
            .invoke_async::<i64>(&mut conn),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis cool-down timed out"))?
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("Redis cool-down failed: {}", e.kind_str()))?;
        Ok(())
    }

    /// Per-API-key limit (requests per minute), on the same sliding-window log. Returns the wait
    /// when over.
    ///
    /// # Errors
    /// Redis unreachable.
    pub async fn admit_api_key(&self, key_id: &str, per_minute: u32) -> anyhow::Result<Admission> {
        self.admit(&format!("apikey:{key_id}"), Lane::Text, per_minute, Duration::from_secs(60)).await
    }
}
