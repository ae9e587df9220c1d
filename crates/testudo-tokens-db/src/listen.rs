//! PostgreSQL LISTEN/NOTIFY for the verification cache (feature `postgres`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::sqlx::{PgPool, Pool, Postgres};
use tokio::sync::oneshot;

use crate::backend::REVOCATION_CHANNEL;
use crate::cache::{Key, VerifyCache};
use crate::{Error, Result};

fn storage(e: sea_orm::sqlx::Error) -> Error {
    sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(e))).into()
}

async fn connect(pool: &Pool<Postgres>) -> Result<PgListener> {
    let mut l = PgListener::connect_with(pool).await.map_err(storage)?;
    l.eager_reconnect(false);
    l.listen(REVOCATION_CHANNEL).await.map_err(storage)?;
    Ok(l)
}

/// Starts listening: the cache is cleared and bypassed until the first `LISTEN` succeeded,
/// then a task applies every notification, and on a lost connection clears and bypasses the
/// cache until it has listened again. The task ends when the cache is dropped (every backend
/// clone gone), when `listen` is called again, or when the pool is closed.
pub(crate) async fn listen(cache: &Arc<VerifyCache>, pool: PgPool) -> Result<()> {
    cache.clear_and_bypass(true);
    let listener = connect(&pool).await?;
    let (tx, rx) = oneshot::channel();
    cache.set_listener(tx);
    cache.clear_and_bypass(false);
    tokio::spawn(run(Arc::downgrade(cache), pool, listener, rx));
    Ok(())
}

async fn run(
    cache: Weak<VerifyCache>,
    pool: PgPool,
    mut listener: PgListener,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let next = tokio::select! {
            _ = &mut stop => return,
            n = listener.try_recv() => n,
        };
        let Some(c) = cache.upgrade() else { return };
        match next {
            Ok(Some(n)) => {
                if let Some(k) = Key::decode(n.payload()) {
                    c.invalidate(&[k]);
                }
            }
            Ok(None) | Err(_) => {
                // Notifications sent while disconnected are lost: no cached answers until
                // listening again, then start from an empty cache.
                c.clear_and_bypass(true);
                tracing::warn!("revocation listener lost its connection: cache bypassed");
                drop(c);
                let mut backoff = Duration::from_millis(50);
                listener = loop {
                    if pool.is_closed() {
                        return;
                    }
                    tokio::select! {
                        _ = &mut stop => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    match connect(&pool).await {
                        Ok(l) => break l,
                        Err(e) => {
                            tracing::warn!(error = %e, "revocation listener: reconnect failed");
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                };
                let Some(c) = cache.upgrade() else { return };
                c.clear_and_bypass(false);
                tracing::info!("revocation listener reconnected: cache in use again");
            }
        }
    }
}
