//! A `tracing` subscriber that keeps, as text, every field of every span and event at every
//! level (feature `tracing`): for tests that check no secret reaches the logs.

use std::fmt::{Debug, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

/// Everything the subscriber saw, as text.
fn log() -> &'static Mutex<String> {
    static LOG: OnceLock<Mutex<String>> = OnceLock::new();
    LOG.get_or_init(|| Mutex::new(String::new()))
}

fn append(text: &str) {
    log()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push_str(text);
}

/// Writes each field as `name=value` (`Debug` of the value, as any formatter would).
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Display, Debug and the whole source chain, as an error-reporting layer would.
        let _ = write!(self.0, " {}={value} {value:?}", field.name());
        let mut source = value.source();
        while let Some(s) = source {
            let _ = write!(self.0, " caused by {s} {s:?}");
            source = s.source();
        }
    }
}

/// The subscriber: keeps every span's and event's fields, at every level.
struct Capture {
    next: AtomicU64,
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut f = Fields(format!("\nspan {}:", span.metadata().name()));
        span.record(&mut f);
        append(&f.0);
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut f = Fields("\nrecord:".to_owned());
        values.record(&mut f);
        append(&f.0);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let m = event.metadata();
        let mut f = Fields(format!("\nevent {} {}:", m.level(), m.target()));
        event.record(&mut f);
        append(&f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the capture as the process's global subscriber, once (every test of a test binary
/// shares it). Returns whether the capture is the global subscriber (false when another one
/// was installed first).
pub fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture {
            next: AtomicU64::new(0),
        })
        .is_ok()
    })
}

/// Everything captured so far, as text.
#[must_use]
pub fn captured() -> String {
    log().lock().unwrap_or_else(PoisonError::into_inner).clone()
}
