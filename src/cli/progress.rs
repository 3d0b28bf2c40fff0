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

/// A progress callback of an export or import that moves `bar`: a step a
/// table, the table and its rows as the message.
pub(super) fn transfer(
    bar: &ProgressBar,
) -> impl Fn(&crate::transfer::TransferProgress<'_>) + Send + Sync + use<> {
    let bar = bar.clone();
    move |p| {
        bar.set_length(p.tables as u64);
        bar.set_position(p.table_index as u64 + u64::from(p.table_done));
        match p.table_rows {
            Some(total) => bar.set_message(format!("{}: {}/{total} rows", p.table, p.rows)),
            None => bar.set_message(format!("{}: {} rows", p.table, p.rows)),
        }
    }
}
