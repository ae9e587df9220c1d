//! Test-only pause points: the worst moment of a transaction, made reachable on purpose.
//!
//! Library code marks a moment another writer must not slip into (a rotation that has written
//! its new pair but not committed, a login that has verified a password but not issued its
//! tokens) with `pause::point("name").await`. Without the `test-hooks` feature (unpublished,
//! enabled by the workspace's tests only) `point` returns at once and costs nothing. With it, a
//! test [arms](arm) the point, starts the operation, waits until the operation has
//! [reached](Paused::reached) the point, runs the competing operation, and then
//! [releases](Paused::release) the first: the interleaving is the same every run, not a race
//! hoped for.
//!
//! Only the first caller to reach an armed point waits (a retried transaction passes through
//! again freely), and only while the [`Paused`] handle lives: dropping it releases the caller.

#[cfg(feature = "test-hooks")]
pub use armed::{Paused, arm};

/// Waits here while a test holds the pause point `name` armed (`test-hooks` feature only);
/// returns at once otherwise.
#[inline]
pub async fn point(name: &'static str) {
    #[cfg(feature = "test-hooks")]
    armed::wait(name).await;
    #[cfg(not(feature = "test-hooks"))]
    let _ = name;
}

#[cfg(feature = "test-hooks")]
mod armed {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    /// How many points are armed (a point not armed is passed without taking the lock).
    static ARMED: AtomicUsize = AtomicUsize::new(0);
    /// The armed points by name.
    static POINTS: Mutex<Option<HashMap<&'static str, Arc<Gate>>>> = Mutex::new(None);

    /// One armed point.
    struct Gate {
        /// Whether a caller has taken this point (only the first waits).
        taken: AtomicBool,
        /// One permit once a caller waits at the point.
        reached: Semaphore,
        /// Closed to let the caller go on.
        release: Semaphore,
    }

    /// An armed pause point: the first caller to reach it waits until this handle is
    /// [released](Paused::release) or dropped.
    #[must_use = "the point is disarmed when the handle is dropped"]
    pub struct Paused {
        name: &'static str,
        gate: Arc<Gate>,
    }

    impl std::fmt::Debug for Paused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Paused").field("name", &self.name).finish()
        }
    }

    /// Arms the pause point `name` (replacing an earlier arming of it).
    pub fn arm(name: &'static str) -> Paused {
        let gate = Arc::new(Gate {
            taken: AtomicBool::new(false),
            reached: Semaphore::new(0),
            release: Semaphore::new(0),
        });
        let mut points = POINTS.lock().unwrap_or_else(PoisonError::into_inner);
        if points
            .get_or_insert_with(HashMap::new)
            .insert(name, Arc::clone(&gate))
            .is_none()
        {
            ARMED.fetch_add(1, Ordering::SeqCst);
        }
        Paused { name, gate }
    }

    impl Paused {
        /// Waits until a caller has reached the point and is waiting there.
        ///
        /// # Panics
        ///
        /// When no caller reaches it within 30 seconds (a test that would otherwise hang).
        pub async fn reached(&self) {
            let reached =
                tokio::time::timeout(Duration::from_secs(30), self.gate.reached.acquire());
            match reached.await {
                Ok(Ok(permit)) => permit.forget(),
                _ => panic!("no caller reached the pause point {:?}", self.name),
            }
        }

        /// Whether a caller has reached the point.
        #[must_use]
        pub fn is_reached(&self) -> bool {
            self.gate.taken.load(Ordering::SeqCst)
        }

        /// Lets the waiting caller (if any) go on and disarms the point.
        pub fn release(self) {
            drop(self);
        }
    }

    impl Drop for Paused {
        fn drop(&mut self) {
            self.gate.release.close();
            let mut points = POINTS.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(points) = points.as_mut()
                && points
                    .get(self.name)
                    .is_some_and(|g| Arc::ptr_eq(g, &self.gate))
            {
                points.remove(self.name);
                ARMED.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// The body of [`super::point`] with the feature on.
    pub(super) async fn wait(name: &'static str) {
        if ARMED.load(Ordering::SeqCst) == 0 {
            return;
        }
        let gate = {
            let points = POINTS.lock().unwrap_or_else(PoisonError::into_inner);
            points.as_ref().and_then(|p| p.get(name).cloned())
        };
        let Some(gate) = gate else {
            return;
        };
        if gate.taken.swap(true, Ordering::SeqCst) {
            return;
        }
        gate.reached.add_permits(1);
        // Closed by the release: the error is the signal to go on.
        let _ = gate.release.acquire().await;
    }
}
