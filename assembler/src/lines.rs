//! A line and character index of a source text, built once in linear time,
//! that answers every position question in logarithmic time.
//!
//! Lines and columns are 1-based and columns count characters (`kbc.md`).
//! Converting between byte offsets and character columns is the costly
//! part on long lines: walking from the line start each time makes a long
//! one-line file quadratic. So for non-ASCII text the index also records
//! how many characters start before every [`BLOCK`]-byte boundary; a
//! conversion then walks at most one block. ASCII text (the common case)
//! needs no such table: there bytes are characters.

/// Bytes per block of the character table.
const BLOCK: usize = 256;

/// Byte offsets to line/column positions and back.
pub struct LineIndex<'s> {
    src: &'s str,
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
    /// For non-ASCII text: `chars[b]` is the number of characters that
    /// start before byte `b * BLOCK`. Empty for ASCII text.
    chars: Vec<usize>,
}

fn is_char_start(b: u8) -> bool {
    (b & 0xC0) != 0x80
}

impl<'s> LineIndex<'s> {
    /// Indexes `src`.
    pub fn new(src: &'s str) -> Self {
        let bytes = src.as_bytes();
        let mut starts = vec![0];
        starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars = Vec::new();
        if !src.is_ascii() {
            let mut n = 0;
            for block in bytes.chunks(BLOCK) {
                chars.push(n);
                n += block.iter().filter(|b| is_char_start(**b)).count();
            }
            chars.push(n);
        }
        LineIndex { src, starts, chars }
    }

    /// The indexed text.
    pub fn src(&self) -> &'s str {
        self.src
    }

    /// Number of characters that start before byte `offset` (at most the
    /// text's length).
    fn chars_before(&self, offset: usize) -> usize {
        let offset = offset.min(self.src.len());
        if self.chars.is_empty() {
            return offset;
        }
        let b = offset / BLOCK;
        let from = b * BLOCK;
        self.chars[b]
            + self.src.as_bytes()[from..offset]
                .iter()
                .filter(|x| is_char_start(**x))
                .count()
    }

    /// Byte offset of character number `n` (0-based, counted from the start
    /// of the text), or the text's length past its end.
    fn byte_of_char(&self, n: usize) -> usize {
        if self.chars.is_empty() {
            return n.min(self.src.len());
        }
        let b = self.chars.partition_point(|c| *c <= n).saturating_sub(1);
        let mut count = self.chars[b];
        let bytes = self.src.as_bytes();
        for (i, x) in bytes.iter().enumerate().skip(b * BLOCK) {
            if is_char_start(*x) {
                if count == n {
                    return i;
                }
                count += 1;
            }
        }
        bytes.len()
    }

    /// 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|s| *s <= offset)
            .saturating_sub(1)
    }

    /// 1-based line and column (in characters) of byte `offset`; an offset
    /// inside a character counts as that character, one past the end as
    /// the column after the last character.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.src.len());
        let line = self.line_of(offset);
        let col = self.chars_before(offset) - self.chars_before(self.starts[line]);
        (sat_u32(line + 1), sat_u32(col + 1))
    }

    /// Byte range of 1-based line `line` without its line ending (`\n` or
    /// `\r\n`), if the text has that line.
    pub fn line_range(&self, line: u32) -> Option<(usize, usize)> {
        let i = (line as usize).checked_sub(1)?;
        let start = *self.starts.get(i)?;
        let mut end = self.starts.get(i + 1).map_or(self.src.len(), |s| s - 1);
        if end > start && self.src.as_bytes()[end - 1] == b'\r' && end < self.src.len() {
            end -= 1;
        }
        // As `str::lines`: nothing after a final newline (or in an empty
        // text) is a line.
        if start == self.src.len() {
            return None;
        }
        Some((start, end))
    }

    /// Number of characters in `start..end` (byte offsets).
    pub fn chars_in(&self, start: usize, end: usize) -> usize {
        self.chars_before(end)
            .saturating_sub(self.chars_before(start))
    }

    /// Byte offset `n` characters after byte offset `from`, stopping at
    /// `limit`.
    pub fn advance(&self, from: usize, n: usize, limit: usize) -> usize {
        let target = self.chars_before(from).saturating_add(n);
        self.byte_of_char(target).min(limit).max(from.min(limit))
    }
}

fn sat_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow, obviously right answer.
    fn naive(src: &str, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        (line as u32, (src[start..offset].chars().count() + 1) as u32)
    }

    #[test]
    fn agrees_with_counting_from_the_start() {
        let mut long = "é".repeat(300);
        long.push_str("\nab\r\n\u{1F600}x\n\nlast");
        long.push_str(&"aé".repeat(200));
        for src in ["", "a", "a\nbc", "é x", "\n\n", long.as_str()] {
            let ix = LineIndex::new(src);
            for off in 0..=src.len() + 2 {
                if src.is_char_boundary(off.min(src.len())) {
                    assert_eq!(ix.line_col(off), naive(src, off), "{src:?} at {off}");
                }
            }
        }
    }

    #[test]
    fn lines_and_advancing_by_characters() {
        let src = "ab\r\nçd\n\nx";
        let ix = LineIndex::new(src);
        assert_eq!(ix.line_range(1), Some((0, 2)));
        assert_eq!(ix.line_range(2), Some((4, 7)));
        assert_eq!(ix.line_range(3), Some((8, 8)));
        assert_eq!(ix.line_range(4), Some((9, 10)));
        assert_eq!(ix.line_range(5), None);
        assert_eq!(ix.line_range(0), None);
        assert_eq!(ix.advance(4, 1, 7), 6);
        assert_eq!(ix.advance(4, 9, 7), 7);
        assert_eq!(ix.chars_in(4, 7), 2);
        assert_eq!(LineIndex::new("a\n").line_range(2), None);
    }
}
