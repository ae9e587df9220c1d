//! Attacks on a token backend's revocation guarantees, written once and run against every
//! backend that can revoke (feature `adversary`).
//!
//! Each scenario takes the backend as `Arc<dyn TokenBackend>` and returns an error naming what
//! survived: a token that should have been revoked and still verifies, a rotation that still
//! succeeds, or an error a caller should never see. The interleavings that matter are made
//! deterministic with the backend's pause point (`testudo_core::pause`): the competing operation
//! runs while the first one waits at its worst moment, every run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use testudo_core::FixedClock;
use testudo_core::pause;
use testudo_core::{Claims, TokenBackend, TokenError, TokenPair, TokenType};

use crate::TestResult;

/// How long the competing operation is given to reach the database while the first one waits
/// at its pause point (it then blocks on the user's lock, or, without that lock, runs to its
/// end: either way the outcome is decided by the time the pause is released).
const COMPETITOR_HEAD_START: Duration = Duration::from_millis(150);

/// Whether `r` is the [`TokenError::Revoked`] refusal.
fn is_revoked<T>(r: &testudo_core::Result<T>) -> bool {
    matches!(
        r.as_ref()
            .err()
            .and_then(testudo_core::Error::as_token_error),
        Some(TokenError::Revoked)
    )
}

/// Fails unless `pair` is dead: its access token is refused as revoked and its refresh token
/// neither verifies nor rotates.
///
/// # Errors
///
/// What survived, or a backend error.
pub async fn assert_dead(backend: &dyn TokenBackend, pair: &TokenPair, what: &str) -> TestResult {
    let access = backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await;
    if !is_revoked(&access) {
        return Err(format!("{what}: its access token survived ({access:?})").into());
    }
    let refresh = backend
        .verify_token(pair.refresh_token(), TokenType::Refresh)
        .await;
    if !is_revoked(&refresh) {
        return Err(format!("{what}: its refresh token survived ({refresh:?})").into());
    }
    let rotated = backend.rotate(pair.refresh_token()).await;
    if !is_revoked(&rotated) {
        return Err(format!("{what}: its refresh token still rotates ({rotated:?})").into());
    }
    Ok(())
}

/// Finding 1 of the security review, made deterministic: a rotation has written the next pair
/// but not committed (it waits at `pause_point`) when `revoke_all_for_user` runs; after both
/// return, the pair the rotation issued must be revoked too.
///
/// # Errors
///
/// The surviving pair, or a backend error.
pub async fn logout_all_during_a_rotation(
    backend: Arc<dyn TokenBackend>,
    pause_point: &'static str,
    user: &str,
) -> TestResult {
    let pair = backend.create_tokens(user, Claims::new()).await?;
    let paused = pause::arm(pause_point);
    let rotation = tokio::spawn({
        let backend = Arc::clone(&backend);
        let refresh = pair.refresh_token().to_owned();
        async move { backend.rotate(&refresh).await }
    });
    paused.reached().await;
    let logout_all = tokio::spawn({
        let backend = Arc::clone(&backend);
        let user = user.to_owned();
        async move { backend.revoke_all_for_user(&user).await }
    });
    tokio::time::sleep(COMPETITOR_HEAD_START).await;
    paused.release();
    let (_, next) = rotation.await??;
    logout_all.await??;
    assert_dead(backend.as_ref(), &next, "the pair of a rotation in flight").await?;
    assert_dead(backend.as_ref(), &pair, "the rotated pair").await
}

/// Reuse detection against a thief who holds the newest refresh token: the owner's old token
/// (rotated longer than the grace window ago) is replayed while the thief's rotation of the
/// newest one waits at `pause_point`; the replay revokes the family, and the thief's new pair
/// must be in it.
///
/// `clock` is the backend's clock; it is moved past the default grace window before the replay.
///
/// # Errors
///
/// The surviving pair, or a backend error.
pub async fn replay_during_the_thiefs_rotation(
    backend: Arc<dyn TokenBackend>,
    clock: &FixedClock,
    pause_point: &'static str,
    user: &str,
) -> TestResult {
    let first = backend.create_tokens(user, Claims::new()).await?;
    let (_, newest) = backend.rotate(first.refresh_token()).await?;
    clock.advance(testudo_core::DEFAULT_ROTATION_GRACE + Duration::from_secs(1));
    let paused = pause::arm(pause_point);
    let thief = tokio::spawn({
        let backend = Arc::clone(&backend);
        let refresh = newest.refresh_token().to_owned();
        async move { backend.rotate(&refresh).await }
    });
    paused.reached().await;
    let replay = tokio::spawn({
        let backend = Arc::clone(&backend);
        let refresh = first.refresh_token().to_owned();
        async move { backend.rotate(&refresh).await }
    });
    tokio::time::sleep(COMPETITOR_HEAD_START).await;
    paused.release();
    let (_, stolen) = thief.await??;
    let replayed = replay.await?;
    if !is_revoked(&replayed) {
        return Err(format!("the replay was not refused as revoked: {replayed:?}").into());
    }
    assert_dead(backend.as_ref(), &stolen, "the thief's pair").await?;
    assert_dead(backend.as_ref(), &newest, "the newest pair").await
}

/// The most rotations one chain makes before it must have been stopped.
const CHAIN_LIMIT: usize = 400;

/// Five refresh chains of `user` rotating in a loop, `revoke_all_for_user` in the middle (once
/// every chain has rotated a few times): every chain must end with a Revoked refusal (no other
/// error), and every pair any chain was issued must be dead afterwards.
///
/// # Errors
///
/// A surviving pair or chain, an error returned to a chain or to the revocation.
pub async fn refresh_chains_vs_logout_all(
    backend: Arc<dyn TokenBackend>,
    user: &str,
) -> TestResult {
    const CHAINS: usize = 5;
    let rotations = Arc::new(AtomicUsize::new(0));
    let mut chains = Vec::with_capacity(CHAINS);
    for _ in 0..CHAINS {
        let first = backend.create_tokens(user, Claims::new()).await?;
        let backend = Arc::clone(&backend);
        let rotations = Arc::clone(&rotations);
        chains.push(tokio::spawn(async move {
            let mut issued = vec![first];
            for _ in 0..CHAIN_LIMIT {
                let current = issued.last().map(|p| p.refresh_token().to_owned());
                let r = backend.rotate(&current.unwrap_or_default()).await;
                match r {
                    Ok((_, next)) => {
                        issued.push(next);
                        rotations.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) if matches!(e.as_token_error(), Some(TokenError::Revoked)) => {
                        return Ok(issued);
                    }
                    Err(e) => return Err(format!("a chain got an error: {e}")),
                }
                tokio::task::yield_now().await;
            }
            Err(format!(
                "a chain rotated {CHAIN_LIMIT} times without being revoked"
            ))
        }));
    }
    while rotations.load(Ordering::SeqCst) < 2 * CHAINS {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    backend.revoke_all_for_user(user).await?;
    for chain in chains {
        let issued = chain.await??;
        for pair in &issued {
            assert_dead(backend.as_ref(), pair, "a pair of a chain").await?;
        }
    }
    Ok(())
}

/// The three scenarios above as test cases of the calling crate, each on every database:
/// `adversary_suite!(PAUSE_POINT, make_backend);` where `make_backend(&TestDb,
/// Option<Arc<FixedClock>>) -> TestResult<Arc<dyn TokenBackend>>` builds the backend under
/// attack (with the clock when one is given) and `PAUSE_POINT` names its rotation's pause
/// point (between writing the next pair and committing).
///
/// It defines `finding_1_logout_all_revokes_the_pair_of_a_rotation_in_flight`,
/// `finding_1_reuse_detection_revokes_the_thiefs_pair_in_flight_x20` and
/// `finding_1_refresh_chains_vs_logout_all_x20` (the last two 20 rounds), with
/// `per_database!` (SQLite in a file, multi-thread runtime).
#[macro_export]
macro_rules! adversary_suite {
    ($pause:expr, $backend:path) => {
        /// `logout_all` while a rotation has written its new pair but not committed: the new
        /// pair is revoked too.
        async fn finding_1_logout_all_revokes_the_pair_of_a_rotation_in_flight(
            b: $crate::db::Backend,
        ) -> $crate::TestResult {
            let db = $crate::db::TestDb::new(b).await?;
            let backend = $backend(&db, None)?;
            $crate::adversary::logout_all_during_a_rotation(backend, $pause, "7").await?;
            db.cleanup().await
        }
        $crate::per_database!(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            finding_1_logout_all_revokes_the_pair_of_a_rotation_in_flight,
            sqlite_file
        );

        /// A replayed rotated token while the thief rotates the newest one, 20 rounds: the
        /// family revocation of reuse detection includes the thief's new pair.
        async fn finding_1_reuse_detection_revokes_the_thiefs_pair_in_flight_x20(
            b: $crate::db::Backend,
        ) -> $crate::TestResult {
            let db = $crate::db::TestDb::new(b).await?;
            let clock =
                ::std::sync::Arc::new($crate::adversary::FixedClock::from_unix(1_800_000_000)?);
            let backend = $backend(&db, Some(::std::sync::Arc::clone(&clock)))?;
            for round in 0..20 {
                let user = format!("u{round}");
                $crate::adversary::replay_during_the_thiefs_rotation(
                    ::std::sync::Arc::clone(&backend),
                    &clock,
                    $pause,
                    &user,
                )
                .await
                .map_err(|e| format!("round {round}: {e}"))?;
            }
            db.cleanup().await
        }
        $crate::per_database!(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            finding_1_reuse_detection_revokes_the_thiefs_pair_in_flight_x20,
            sqlite_file
        );

        /// Five refresh chains against `logout_all`, 20 rounds: nothing survives, no chain sees
        /// an error other than Revoked.
        async fn finding_1_refresh_chains_vs_logout_all_x20(
            b: $crate::db::Backend,
        ) -> $crate::TestResult {
            let db = $crate::db::TestDb::new(b).await?;
            let backend = $backend(&db, None)?;
            for round in 0..20 {
                let user = format!("u{round}");
                $crate::adversary::refresh_chains_vs_logout_all(
                    ::std::sync::Arc::clone(&backend),
                    &user,
                )
                .await
                .map_err(|e| format!("round {round}: {e}"))?;
            }
            db.cleanup().await
        }
        $crate::per_database!(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            finding_1_refresh_chains_vs_logout_all_x20,
            sqlite_file
        );
    };
}
