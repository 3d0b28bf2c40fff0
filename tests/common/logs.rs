//! The log lines a test produced: a tracing subscriber for the test's
//! thread (a `#[tokio::test]` runs its tasks there) writing plain text.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// Every line logged (DEBUG and above) while the guard of
/// [`capture`](Logs::capture) lives, with its level and span context.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut all) = self.0.lock() {
            all.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Starts capturing on this thread, until the guard is dropped.
    pub fn capture() -> (Logs, DefaultGuard) {
        let logs = Logs::default();
        let buf = logs.0.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || Sink(buf.clone()))
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        let all = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&all)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines from this crate, at `level` (`ERROR`, `WARN`, `DEBUG`, …).
    pub fn of(&self, level: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.trim_start().starts_with(level) && l.contains("sea_orm_tenant"))
            .collect()
    }
}
