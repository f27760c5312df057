//! The text of a session's module, and where each of its lines came from.
//!
//! A session compiles every input into one module text: the definitions as
//! the user wrote them (each a [`Chunk`] remembering its file and first
//! line), plus lines the session generates around the input line. Errors
//! and trap positions point into that text; [`ModuleText`] maps them back
//! to the user's file and line, so a message reads `<repl>:3:5` or
//! `lib.kasm:12:9` with that line's text under it, never a line of the
//! generated module.
//!
//! Invariant: a chunk is pushed verbatim (plus one newline), so a column in
//! the module text is the column in the user's line.

use std::sync::Arc;

use keel_assembler::diag;
use keel_vm::{Trap, VerifyErrors};

/// Source text the user wrote, with its origin.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// `<repl>` or the path given to `:load`.
    pub file: Arc<str>,
    /// Line of `file` where the text starts (1-based).
    pub line: u32,
    /// The text; its first line starts at column 1 of `line`.
    pub text: String,
}

/// A module text being built, with the origin of every line (`None` for
/// generated lines).
#[derive(Default)]
pub struct ModuleText {
    pub src: String,
    origins: Vec<Option<(Arc<str>, u32)>>,
    /// Byte offset in `src` where each line starts (one per origin).
    starts: Vec<usize>,
}

/// The name the snippet function has in the module text, and how traces
/// call it.
pub const LINE_FUNC: &str = "__repl_line";
const LINE_FRAME: &str = "<line>";

impl ModuleText {
    /// Appends the user's text.
    pub fn chunk(&mut self, c: &Chunk) {
        for (i, line) in c.text.split('\n').enumerate() {
            self.starts.push(self.src.len());
            self.src.push_str(line);
            self.src.push('\n');
            self.origins.push(Some((c.file.clone(), c.line + i as u32)));
        }
    }

    /// Appends one generated line.
    pub fn generated(&mut self, line: &str) {
        debug_assert!(!line.contains('\n'));
        self.starts.push(self.src.len());
        self.src.push_str(line);
        self.src.push('\n');
        self.origins.push(None);
    }

    /// Appends another text (an input assembled alone) and returns the
    /// number of lines before it: a position at line L of `other` is at
    /// line L plus that number here.
    pub fn append(&mut self, other: &ModuleText) -> u32 {
        let base = self.origins.len() as u32;
        let shift = self.src.len();
        self.starts.extend(other.starts.iter().map(|s| s + shift));
        self.src.push_str(&other.src);
        self.origins.extend(other.origins.iter().cloned());
        base
    }

    /// Where line `line` (1-based) of the module text came from, and its
    /// text.
    fn origin(&self, line: u32) -> Option<(&str, u32, &str)> {
        let i = line.checked_sub(1)? as usize;
        let (file, at) = self.origins.get(i)?.as_ref()?;
        let start = *self.starts.get(i)?;
        let end = self.src[start..]
            .find('\n')
            .map_or(self.src.len(), |n| start + n);
        let text = &self.src[start..end];
        Some((file, *at, text))
    }

    /// Renders `message` at a line and column of the module text.
    pub fn render_at(&self, line: u32, col: u32, message: &str) -> String {
        match self.origin(line) {
            Some((file, at, text)) => {
                let width = diag::token_width(text, 1, col);
                diag::render_line(file, at, col, width, Some(text), message)
            }
            None => format!("error: {message}\n"),
        }
    }

    /// Renders an assembler error at a byte offset of the module text.
    pub fn render_offset(&self, offset: usize, message: &str) -> String {
        let (line, col) = diag::line_col(&self.src, offset);
        self.render_at(line, col, message)
    }

    /// Renders verification errors.
    pub fn render_verify(&self, errors: &VerifyErrors) -> String {
        let mut out = String::new();
        for e in &errors.0 {
            let mut message = e.kind.to_string();
            if let Some(f) = e.func.as_deref().filter(|f| *f != LINE_FUNC) {
                message.push_str(&format!(" (in function `{f}`)"));
            }
            match e.pos {
                Some(p) => out.push_str(&self.render_at(p.line, p.col, &message)),
                None => out.push_str(&format!("error: {message}\n")),
            }
        }
        out
    }

    /// Renders a trap as `vmrun` does (message, the innermost known
    /// position with its line under a caret, then the Keel stack trace
    /// innermost first), with positions mapped back to the user's text.
    pub fn render_trap(&self, mut trap: Trap) -> String {
        let mut caret = None;
        for frame in &mut trap.backtrace {
            if frame.func == LINE_FUNC {
                frame.func = LINE_FRAME.into();
            }
            match frame.pos.and_then(|p| Some((p, self.origin(p.line)?))) {
                Some((p, (file, at, text))) => {
                    if caret.is_none() {
                        caret = Some((file, at, p.col, text));
                    }
                    frame.file = Some(file.to_owned());
                    frame.pos = Some(keel_vm::Pos {
                        line: at,
                        col: p.col,
                    });
                }
                None => {
                    frame.file = None;
                    frame.pos = None;
                }
            }
        }
        let mut out = match caret {
            Some((file, line, col, text)) => diag::render_line(
                file,
                line,
                col,
                diag::token_width(text, 1, col),
                Some(text),
                &trap.message,
            ),
            None => format!("error: {}\n", trap.message),
        };
        out.push_str(&trap.trace());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_map_back_to_chunks() {
        let mut t = ModuleText::default();
        t.generated(".func __repl_line()");
        t.chunk(&Chunk {
            file: "lib.kasm".into(),
            line: 10,
            text: "push 1\n  pusj 2".into(),
        });
        t.generated(".end");
        let shown = t.render_at(3, 3, "unknown instruction");
        assert!(shown.contains("--> lib.kasm:11:3"), "{shown}");
        assert!(shown.contains("11 |   pusj 2"), "{shown}");
        assert!(shown.contains("^^^^"), "{shown}");
        assert_eq!(t.render_at(1, 1, "generated"), "error: generated\n");
    }
}
