//! Rendering diagnostics rustc-style: message, location, source line, caret.
//!
//! ```text
//! error: unknown instruction `ad`
//!   --> demo.kasm:3:5
//!    |
//!  3 |     ad
//!    |     ^^
//! ```
//!
//! Rendering is near-linear in the source and the number of diagnostics: a
//! [`Source`] indexes the text once ([`LineIndex`]) and each diagnostic
//! then costs a logarithmic lookup plus its excerpt. An excerpt shows at
//! most [`MAX_SHOWN`] characters of its line, a window around the caret,
//! so a diagnostic on a megabyte-long line is still a few short lines.
//! Control characters in an excerpt are shown as U+FFFD (tabs as spaces),
//! so a source line cannot move the cursor or restyle the terminal.

use crate::error::Span;
pub use crate::lines::LineIndex;

/// Most characters of a source line an excerpt shows.
pub const MAX_SHOWN: usize = 120;
/// Characters shown before the caret when a line is cut.
const CONTEXT: usize = 40;

/// 1-based line and column (in characters) of byte `offset` in `src`.
/// Scans `src` up to `offset`: for many positions use a [`LineIndex`].
pub fn line_col(src: &str, offset: usize) -> (u32, u32) {
    let offset = floor_char_boundary(src, offset.min(src.len()));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = src[line_start..offset].chars().count() + 1;
    (line as u32, col as u32)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A source file being reported on: its name and its indexed text. Build
/// it once and render every diagnostic of the file through it.
pub struct Source<'s> {
    file: &'s str,
    index: LineIndex<'s>,
}

impl<'s> Source<'s> {
    /// Indexes `src`, the text of `file`.
    pub fn new(file: &'s str, src: &'s str) -> Self {
        Source {
            file,
            index: LineIndex::new(src),
        }
    }

    /// The line index.
    pub fn index(&self) -> &LineIndex<'s> {
        &self.index
    }

    /// 1-based line and column of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        self.index.line_col(offset)
    }

    /// Renders an error at a byte span; the caret covers the span, clipped
    /// to its first line.
    pub fn render_span(&self, span: Span, message: &str) -> String {
        let src = self.index.src();
        let start = floor_char_boundary(src, span.start.min(src.len()));
        let (line, col) = self.index.line_col(start);
        let line_end = self.index.line_range(line).map_or(start, |(_, e)| e);
        let end = floor_char_boundary(src, span.end.min(line_end)).max(start);
        let end = end.min(self.index.advance(start, MAX_SHOWN, line_end));
        let width = self.index.chars_in(start, end);
        self.render(line, col, Some(width), message)
    }

    /// Renders an error at a line and column (from a line table); the caret
    /// covers the token there.
    pub fn render_pos(&self, line: u32, col: u32, message: &str) -> String {
        self.render(line, col, None, message)
    }

    /// Renders at `line`/`col`; a `width` of `None` means the token there.
    fn render(&self, line: u32, col: u32, width: Option<usize>, message: &str) -> String {
        let mut out = format!("error: {message}\n  --> {}:{line}:{col}\n", self.file);
        let Some((start, end)) = self.index.line_range(line) else {
            return out;
        };
        let src = self.index.src();
        let len = self.index.chars_in(start, end);
        let col0 = (col.saturating_sub(1) as usize).min(len);
        let (from, to) = window(col0, len);
        let at = self.index.advance(start, col0, end);
        let width = width.unwrap_or_else(|| {
            let rest = &src[at..self.index.advance(at, MAX_SHOWN, end)];
            rest.chars().take_while(|c| !c.is_whitespace()).count()
        });
        let shown_from = self.index.advance(start, from, end);
        let shown_to = self.index.advance(start, to, end);
        out.push_str(&format_excerpt(
            line,
            &src[shown_from..shown_to],
            (from > 0, to < len),
            col0 - from,
            width.min(to.saturating_sub(col0)).max(1),
        ));
        out
    }
}

/// The window `from..to` (in characters) shown of a line of `len`
/// characters for a caret at 0-based column `col0`.
fn window(col0: usize, len: usize) -> (usize, usize) {
    if len <= MAX_SHOWN {
        return (0, len);
    }
    let to = (col0.saturating_sub(CONTEXT) + MAX_SHOWN).min(len);
    (to - MAX_SHOWN, to)
}

/// Renders an error at a byte span of `src`. Indexes `src` for this one
/// diagnostic: to render several, use a [`Source`].
pub fn render_span(file: &str, src: &str, span: Span, message: &str) -> String {
    Source::new(file, src).render_span(span, message)
}

/// Renders an error at a line and column; the source excerpt is shown when
/// `src` is given and has that line. Indexes `src` for this one
/// diagnostic: to render several, use a [`Source`].
pub fn render_at(
    file: &str,
    src: Option<&str>,
    line: u32,
    col: u32,
    width: usize,
    message: &str,
) -> String {
    match src {
        Some(src) => Source::new(file, src).render(line, col, Some(width), message),
        None => render_line(file, line, col, width, None, message),
    }
}

/// Renders an error at `line`/`col` of `file` whose text is `text` (for
/// callers that keep source lines apart from whole files, such as the
/// REPL).
pub fn render_line(
    file: &str,
    line: u32,
    col: u32,
    width: usize,
    text: Option<&str>,
    message: &str,
) -> String {
    let mut out = format!("error: {message}\n  --> {file}:{line}:{col}\n");
    if let Some(text) = text {
        out.push_str(&excerpt(line, col, width, text));
    }
    out
}

/// The source excerpt of a diagnostic: line `line` reading `text`, with a
/// caret of `width` under column `col` (cut to a window around the caret
/// when the line is long).
pub fn excerpt(line: u32, col: u32, width: usize, text: &str) -> String {
    let len = text.chars().count();
    let col0 = (col.saturating_sub(1) as usize).min(len);
    let (from, to) = window(col0, len);
    let mut bytes = text.char_indices().map(|(i, _)| i).chain([text.len()]);
    let start = bytes.nth(from).unwrap_or(text.len());
    let end = if to > from {
        bytes.nth(to - from - 1).unwrap_or(text.len())
    } else {
        start
    };
    format_excerpt(
        line,
        &text[start..end],
        (from > 0, to < len),
        col0 - from,
        width.min(to.saturating_sub(col0)).max(1),
    )
}

/// Formats an excerpt showing `shown` (the window of the line), with `...`
/// before and after it where the line was `cut`, and a caret of `width`
/// under 0-based column `col0` of the window.
fn format_excerpt(line: u32, shown: &str, cut: (bool, bool), col0: usize, width: usize) -> String {
    let num = line.to_string();
    let pad = " ".repeat(num.len());
    let lead = if cut.0 { "..." } else { "" };
    let trail = if cut.1 { "..." } else { "" };
    // Tabs are shown as single spaces so the caret lines up; other control
    // characters as U+FFFD, one column each, so they do nothing.
    let text: String = shown
        .chars()
        .map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect();
    format!(
        " {pad} |\n {num} | {lead}{text}{trail}\n {pad} | {}{}\n",
        " ".repeat(col0 + lead.len()),
        "^".repeat(width)
    )
}

/// Width of the token starting at 1-based `line`/`col` in `src` (for
/// positions that come from a line table rather than a span). Scans `src`:
/// for many positions use [`Source::render_pos`].
pub fn token_width(src: &str, line: u32, col: u32) -> usize {
    src.lines()
        .nth(line.saturating_sub(1) as usize)
        .map(|l| {
            l.chars()
                .skip(col.saturating_sub(1) as usize)
                .take_while(|c| !c.is_whitespace())
                .take(MAX_SHOWN)
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

/// Renders verification errors as `vmrun` prints them: each one located
/// (`error: MESSAGE`, `  --> FILE:LINE:COL`) and, when the source text is
/// given, with its line and a caret under the instruction; an error with
/// no position names the file only. `file` is the name the module's debug
/// info gives (what the errors' positions refer to).
pub fn render_verify_errors(
    errors: &keel_vm::VerifyErrors,
    file: &str,
    source: Option<&str>,
) -> String {
    let mut out = String::new();
    let source = source.map(|s| Source::new(file, s));
    for e in &errors.0 {
        match e.pos {
            Some(p) => {
                let message = e.to_string();
                out.push_str(&match &source {
                    Some(s) => s.render_pos(p.line, p.col, &message),
                    None => render_at(file, None, p.line, p.col, 1, &message),
                });
            }
            None => out.push_str(&format!("error: {e}\n  --> {file}\n")),
        }
    }
    out
}

/// Renders assembly errors as `vmrun` prints them: located, with the
/// source line and a caret under the span.
pub fn render_asm_errors(errors: &[crate::AsmError], file: &str, src: &str) -> String {
    let source = Source::new(file, src);
    let mut out = String::new();
    for e in errors {
        out.push_str(&source.render_span(e.span, &e.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let src = ".func main()\n    ad\n.end\n";
        let out = render_span(
            "demo.kasm",
            src,
            Span::new(17, 19),
            "unknown instruction `ad`",
        );
        assert_eq!(
            out,
            "error: unknown instruction `ad`\n  --> demo.kasm:2:5\n   |\n 2 |     ad\n   |     ^^\n"
        );
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("é x", 3), (1, 3));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
    }

    #[test]
    fn long_lines_show_a_window_around_the_caret() {
        let mut line = "x ".repeat(500);
        line.push_str("bad");
        line.push_str(&" y".repeat(500));
        let src = format!(".func main()\n{line}\n.end\n");
        let at = src.find("bad").unwrap();
        let out = Source::new("f.kasm", &src).render_span(Span::new(at, at + 3), "boom");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "  --> f.kasm:2:1001");
        assert!(lines[3].starts_with(" 2 | ...x x") && lines[3].ends_with(" y ..."));
        assert_eq!(lines[3].chars().count(), " 2 | ".len() + MAX_SHOWN + 6);
        // The caret is under `bad` in the window.
        let caret = lines[4].find('^').unwrap();
        assert_eq!(&lines[3][caret..caret + 3], "bad");
        assert!(lines[4].ends_with("^^^"));
        // The same through the line-based excerpt.
        assert_eq!(
            excerpt(2, 1001, 3, &line),
            format!("{}\n{}\n{}\n", lines[2], lines[3], lines[4])
        );
        // Via a line table position: the token's width.
        assert_eq!(Source::new("f.kasm", &src).render_pos(2, 1001, "boom"), out);
    }

    #[test]
    fn control_characters_are_not_echoed() {
        let src = "push \"\u{1b}[2J\r\" x\n";
        let out = render_span("f.kasm", src, Span::new(13, 14), "boom");
        assert!(!out.contains('\u{1b}') && !out.contains('\r'), "{out:?}");
        assert!(
            out.contains(" 1 | push \"\u{FFFD}[2J\u{FFFD}\" x\n"),
            "{out:?}"
        );
        assert!(
            out.ends_with(&format!("   | {}^\n", " ".repeat(13))),
            "{out:?}"
        );
    }

    #[test]
    fn positions_past_the_text_have_no_excerpt() {
        assert_eq!(
            render_at("f.kasm", Some("a\n"), 2, 1, 1, "m"),
            "error: m\n  --> f.kasm:2:1\n"
        );
        assert_eq!(
            render_span("f.kasm", "", Span::new(0, 0), "m"),
            "error: m\n  --> f.kasm:1:1\n"
        );
    }
}
