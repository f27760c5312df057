//! Rendering diagnostics rustc-style: message, location, source line, caret.
//!
//! ```text
//! error: unknown instruction `ad`
//!   --> demo.kasm:3:5
//!    |
//!  3 |     ad
//!    |     ^^
//! ```

use crate::error::Span;

/// 1-based line and column (in characters) of byte `offset` in `src`.
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

/// Renders an error at a byte span of `src`.
pub fn render_span(file: &str, src: &str, span: Span, message: &str) -> String {
    let (line, col) = line_col(src, span.start);
    let start = floor_char_boundary(src, span.start.min(src.len()));
    let end = floor_char_boundary(src, span.end.min(src.len())).max(start);
    // The caret covers the span, clipped to its first line.
    let width = src[start..end]
        .lines()
        .next()
        .map_or(1, |s| s.chars().count())
        .max(1);
    render_at(file, Some(src), line, col, width, message)
}

/// Renders an error at a line and column; the source excerpt is shown when
/// `src` is given and has that line.
pub fn render_at(
    file: &str,
    src: Option<&str>,
    line: u32,
    col: u32,
    width: usize,
    message: &str,
) -> String {
    let text = src.and_then(|s| s.lines().nth(line.saturating_sub(1) as usize));
    render_line(file, line, col, width, text, message)
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
/// caret of `width` under column `col`.
pub fn excerpt(line: u32, col: u32, width: usize, text: &str) -> String {
    let num = line.to_string();
    let pad = " ".repeat(num.len());
    // Tabs are shown as single spaces so the caret lines up.
    let shown: String = text
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    format!(
        " {pad} |\n {num} | {shown}\n {pad} | {}{}\n",
        " ".repeat(col.saturating_sub(1) as usize),
        "^".repeat(width)
    )
}

/// Width of the token starting at 1-based `line`/`col` in `src` (for
/// positions that come from a line table rather than a span).
pub fn token_width(src: &str, line: u32, col: u32) -> usize {
    src.lines()
        .nth(line.saturating_sub(1) as usize)
        .map(|l| {
            l.chars()
                .skip(col.saturating_sub(1) as usize)
                .take_while(|c| !c.is_whitespace())
                .count()
        })
        .unwrap_or(1)
        .max(1)
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
}
