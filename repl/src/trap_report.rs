//! How `vmrun` shows a runtime trap: the message, the innermost source
//! position as `-->` with its line and a caret under the failing
//! instruction (as assembly errors are shown), then the Keel stack trace
//! innermost first ([`keel_vm::Trap::trace`], which folds recursion).
//!
//! The caret needs the source text: a `.kasm` program has it; a `.kbc`
//! with debug info shows the position without the excerpt; a stripped one
//! shows only the trace.

use keel_assembler::diag;
use keel_vm::Trap;

/// Renders `trap` of a program loaded from `file` whose text is `source`.
pub fn render(trap: &Trap, file: &str, source: Option<&str>) -> String {
    let Some((frame_file, pos)) = trap
        .backtrace
        .iter()
        .find_map(|f| Some((f.file.as_deref()?, f.pos?)))
    else {
        return trap.report();
    };
    let mut out = match source.filter(|_| frame_file == file) {
        Some(src) => {
            diag::Source::new(frame_file, src).render_pos(pos.line, pos.col, &trap.message)
        }
        None => format!(
            "error: {}\n  --> {frame_file}:{}:{}\n",
            trap.message, pos.line, pos.col
        ),
    };
    out.push_str(&trap.trace());
    out
}
