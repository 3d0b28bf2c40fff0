//! The progress bar of a long run: on standard error, drawn only when that
//! is a terminal (indicatif hides it otherwise, and when `TERM` is `dumb`),
//! cleared when the run ends so the report follows on a clean screen.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps (set later for a migration run, which counts its
/// targets itself).
pub(super) fn bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar
}
