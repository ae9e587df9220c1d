//! [`RedisRateLimiter`]: the backend on a Redis server (feature `redis`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use testudo_core::{Clock, Result, async_trait};

use crate::error::Error;
use crate::policy::State;
use crate::{Decision, Policy, RateKey, RateLimiter};

/// The key prefix of [`RedisRateLimiter::connect`]: `testudo:rl:`.
pub const DEFAULT_PREFIX: &str = "testudo:rl:";

/// [`Params::hit`](crate::policy::Params) in Lua: one script, so Redis runs the check and the
/// record of an attempt atomically. The key is a hash (`a` attempts, `w` window end, `b`
/// blocked until, microseconds) that expires when its state ends. Integers stay below 2^53,
/// exact in Lua's doubles; they are written with `%.0f` so no exponent form is stored.
const SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local refused_inc = tonumber(ARGV[4])
local extend = tonumber(ARGV[5])
local base = tonumber(ARGV[6])
local shift_cap = tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local s = redis.call('HMGET', KEYS[1], 'a', 'w', 'b')
local a, w, b = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
if a == nil or w == nil or b == nil then
  a, w, b = 0, now, now
end
local allowed = 1
if b > now then
  allowed = 0
  a = a + refused_inc
else
  local expired = w <= now
  if expired then a = 1 else a = a + 1 end
  if expired then w = now + window end
  if a >= max then
    local shift = math.min(math.max(a - max, 0), shift_cap)
    b = now + math.min(base * (2 ^ shift), cap)
    if extend == 1 then w = b + window end
  else
    b = now
  end
end
redis.call('HSET', KEYS[1], 'a', string.format('%.0f', a), 'w', string.format('%.0f', w),
  'b', string.format('%.0f', b))
local ttl = math.ceil((math.max(w, b) - now) / 1000)
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return {allowed, string.format('%.0f', a), string.format('%.0f', w), string.format('%.0f', b)}
";

/// Rate limiting on a Redis server, for deployments that run one already: one Lua script
/// (`EVALSHA`, loaded on first use) checks and records each attempt atomically, so parallel
/// attempts from any number of processes cannot exceed the limit.
///
/// Keys are `prefix` + the key's SHA-256 digest in hex (never the identifier or address), and
/// expire by themselves when their state ends, so [`RateLimiter::cleanup`] has nothing to do.
/// The time is the injected clock's (passed to the script), not the server's. The connection
/// is a `redis` connection manager: multiplexed, with the client's response and connection
/// timeouts, reconnecting after a failure (up to 3 tries, at most a second apart; the attempt
/// that met the failure gets a storage error).
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    script: Arc<redis::Script>,
    prefix: String,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL (which may hold a password) is not kept.
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// Connects to the server at `url` (`redis://[user:password@]host[:port][/db]`), with
    /// keys under [`DEFAULT_PREFIX`], reading the time from `clock`.
    ///
    /// # Errors
    ///
    /// [`Storage`](testudo_core::Error::Storage) when the URL is invalid or the server cannot
    /// be reached.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        let client = redis::Client::open(url).map_err(Error::from)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(Error::from)?;
        Ok(Self {
            conn,
            script: Arc::new(redis::Script::new(SCRIPT)),
            prefix: DEFAULT_PREFIX.to_owned(),
            clock,
        })
    }

    /// The same limiter with keys under `prefix` (to share a server between applications,
    /// or tests).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn redis_key(&self, key: &RateKey) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 64);
        k.push_str(&self.prefix);
        k.push_str(&key.digest_hex());
        k
    }
}

/// Reads an integer the script returned (as a string or an integer).
fn integer(v: &redis::Value) -> Option<i64> {
    match v {
        redis::Value::Int(i) => Some(*i),
        redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        redis::Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    #[tracing::instrument(level = "debug", skip_all, fields(scope = key.scope()))]
    async fn hit(&self, key: &RateKey, policy: &Policy) -> Result<Decision> {
        let params = policy.params()?;
        let now = self.clock.now().timestamp_micros();
        let mut conn = self.conn.clone();
        let reply: Vec<redis::Value> = self
            .script
            .key(self.redis_key(key))
            .arg(now)
            .arg(params.window)
            .arg(params.max)
            .arg(params.refused_inc)
            .arg(i64::from(params.extend))
            .arg(params.base)
            .arg(params.shift_cap)
            .arg(params.cap)
            .invoke_async(&mut conn)
            .await
            .map_err(Error::from)?;
        let numbers: Option<Vec<i64>> = reply.iter().map(integer).collect();
        let Some([allowed, attempts, window_end, blocked_until]) =
            numbers.and_then(|n| <[i64; 4]>::try_from(n).ok())
        else {
            return Err(Error::UnexpectedReply.into());
        };
        let state = State {
            attempts,
            window_end,
            blocked_until,
        };
        Ok(params.decision(&state, allowed != 0, now))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(scope = key.scope()))]
    async fn reset(&self, key: &RateKey) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(self.redis_key(key))
            .query_async(&mut conn)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn cleanup(&self) -> Result<u64> {
        Ok(0)
    }
}
