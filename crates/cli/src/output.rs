//! Writing a command's output. Everything for stdout goes through one locked handle with
//! `writeln!(out, ..)?` (never `println!`, which panics on a closed pipe; the crate denies
//! `clippy::print_stdout`): a reader that goes away (`mosaic plugins | head -1`) then turns
//! into an `io::Error` of kind `BrokenPipe`, which `main` ends with exit 0 and no message.
//! Notes and progress go to stderr; with `--json`, stdout holds exactly one JSON document
//! (the result, or the error) and there is no progress bar.

use std::io::{self, IsTerminal, StdoutLock, Write};

/// The locked stdout.
pub fn stdout() -> StdoutLock<'static> {
    io::stdout().lock()
}

/// Write `value` as pretty JSON and a newline.
pub fn json(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Whether to draw progress bars: stderr is a terminal and the output is not JSON.
pub fn show_progress(json: bool) -> bool {
    !json && io::stderr().is_terminal()
}
