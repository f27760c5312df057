//! `vmrun dis --jit`: the machine code the JIT makes for each function,
//! each byte range under the specialized op it came from.
//!
//! A function's section is, in order: its `.func` header (as `dis
//! --verified` prints it), its entry points, the prologue (the bytes before
//! the first op's range), each op's `dis --verified` line followed by the
//! instructions of its range, and the out-of-line code after the last range
//! (trap and refuel stubs, the epilogue). Bytes no op claims between two
//! ranges are listed where they lie, so every byte appears exactly once.
//!
//! With the `jit-listing` feature (on by default) instructions are decoded
//! into Intel syntax; without it each range is shown as raw bytes, sixteen a
//! line. Everything but the addresses (and the bytes that encode absolute
//! addresses) is deterministic for a given module and build.
//!
//! The listing never trusts the ranges it is given: a range past the end of
//! the code, backwards, or overlapping one already listed is clamped, so a
//! malformed listing prints less but never panics.

use std::fmt::Write as _;
use std::ops::Range;

use keel_vm::{JitListing, VerifiedModule};

/// Indentation of machine-code lines (deeper than the op lines).
const CODE_INDENT: &str = "            ";

/// Appends function `func`'s section to `text`: its header, then its code,
/// or a note when the JIT did not compile it (`listing` is `None`).
pub(crate) fn write_function(
    text: &mut String,
    module: &VerifiedModule,
    func: usize,
    listing: Option<&JitListing>,
) {
    let Some(f) = module.module().funcs.get(func) else {
        return;
    };
    let _ = writeln!(text, ".func {}{}", f.name, f.ty);
    match listing {
        Some(l) => write_code(text, module, func, l),
        None => {
            text.push_str("    ; not compiled: the JIT leaves this function to the interpreter\n");
        }
    }
    text.push_str(".end\n");
}

fn write_code(text: &mut String, module: &VerifiedModule, func: usize, l: &JitListing) {
    let _ = writeln!(
        text,
        "    ; {} bytes of machine code at {:#x}",
        l.code.len(),
        l.address
    );
    for (name, at) in &l.entries {
        let _ = writeln!(text, "    ; entry {name} at +{at}");
    }
    let mut dec = Decoder::new(l);
    let first = l.ops.first().map_or(l.code.len(), |(_, r)| r.start);
    if first > 0 {
        text.push_str("    ; prologue\n");
        dec.write(text, 0..first);
    }
    for (index, range) in &l.ops {
        if range.start > dec.cursor {
            text.push_str("    ; between ops\n");
            dec.write(text, dec.cursor..range.start);
        }
        crate::write_op_line(text, module, func, *index);
        dec.write(text, range.clone());
    }
    if dec.cursor < l.code.len() {
        text.push_str("    ; out of line: stubs and epilogue\n");
        dec.write(text, dec.cursor..l.code.len());
    }
    if !l.constants.is_empty() {
        text.push_str("    ; constants\n");
        for (k, c) in l.constants.iter().enumerate() {
            let at = l.code.len() + 8 * k;
            let _ = writeln!(
                text,
                "            +{at:<6} {c:#018x}  ; {:?}",
                f64::from_bits(*c)
            );
        }
    }
}

/// Lists byte ranges of one function's code, in order.
struct Decoder<'a> {
    listing: &'a JitListing,
    /// The end of what has been listed: no byte is listed twice.
    cursor: usize,
    #[cfg(feature = "jit-listing")]
    formatter: iced_x86::IntelFormatter,
}

impl<'a> Decoder<'a> {
    fn new(listing: &'a JitListing) -> Self {
        Decoder {
            listing,
            cursor: 0,
            #[cfg(feature = "jit-listing")]
            formatter: intel_formatter(),
        }
    }

    /// Lists `range` (clamped to the code and to what is not yet listed).
    fn write(&mut self, text: &mut String, range: Range<usize>) {
        let len = self.listing.code.len();
        let start = range.start.max(self.cursor).min(len);
        let end = range.end.min(len);
        if start >= end {
            return;
        }
        self.cursor = end;
        self.write_bytes(text, start..end);
    }

    /// Entry labels for an instruction (or byte row) at `off`.
    fn labels(&self, text: &mut String, off: usize) {
        for (name, at) in &self.listing.entries {
            if *at == off {
                let _ = writeln!(text, "        {name}:");
            }
        }
    }

    fn address(&self, off: usize) -> u64 {
        self.listing.address.wrapping_add(off as u64)
    }

    #[cfg(feature = "jit-listing")]
    fn write_bytes(&mut self, text: &mut String, range: Range<usize>) {
        use iced_x86::Formatter as _;
        let code = &self.listing.code[range.clone()];
        let mut decoder = iced_x86::Decoder::with_ip(
            64,
            code,
            self.address(range.start),
            iced_x86::DecoderOptions::NONE,
        );
        let mut insn = iced_x86::Instruction::default();
        let mut asm = String::new();
        while decoder.can_decode() {
            let at = decoder.position();
            decoder.decode_out(&mut insn);
            let size = insn.len().max(1);
            let end = (at + size).min(code.len());
            let off = range.start + at;
            self.labels(text, off);
            asm.clear();
            if insn.is_invalid() {
                asm.push_str("(bad)");
                // Resynchronize at the next byte.
                let _ = decoder.set_position(at + 1);
            } else {
                self.formatter.format(&insn, &mut asm);
                if let Some(to) = self.branch_target(&insn) {
                    let _ = write!(asm, "  ; to +{to}");
                }
            }
            let shown = if insn.is_invalid() { at + 1 } else { end };
            let _ = writeln!(
                text,
                "{CODE_INDENT}{:016x} +{off:<5} {:<36} {asm}",
                self.address(off),
                hex(&code[at..shown]),
            );
        }
    }

    /// The offset in this function's code a near branch or call goes to
    /// (an instruction whose first operand is a near-branch target).
    #[cfg(feature = "jit-listing")]
    fn branch_target(&self, insn: &iced_x86::Instruction) -> Option<usize> {
        if !matches!(
            insn.op0_kind(),
            iced_x86::OpKind::NearBranch16
                | iced_x86::OpKind::NearBranch32
                | iced_x86::OpKind::NearBranch64
        ) {
            return None;
        }
        let off = insn
            .near_branch_target()
            .checked_sub(self.listing.address)?;
        let off = usize::try_from(off).ok()?;
        (off < self.listing.code.len()).then_some(off)
    }

    #[cfg(not(feature = "jit-listing"))]
    fn write_bytes(&mut self, text: &mut String, range: Range<usize>) {
        let code = &self.listing.code;
        let mut off = range.start;
        while off < range.end {
            // A row breaks at an entry point, so its label stands above it.
            let next_label = self
                .listing
                .entries
                .iter()
                .map(|(_, at)| *at)
                .filter(|&at| at > off && at < range.end)
                .min()
                .unwrap_or(range.end);
            let end = (off + 16).min(next_label);
            self.labels(text, off);
            let _ = writeln!(
                text,
                "{CODE_INDENT}{:016x} +{off:<5} {}",
                self.address(off),
                hex(&code[off..end])
            );
            off = end;
        }
    }
}

/// Intel syntax, hex numbers as `0x1f`.
#[cfg(feature = "jit-listing")]
fn intel_formatter() -> iced_x86::IntelFormatter {
    let mut f = iced_x86::IntelFormatter::new();
    let o = iced_x86::Formatter::options_mut(&mut f);
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_space_after_operand_separator(true);
    o.set_first_operand_char_index(8);
    f
}

/// Bytes as two-digit hex, space-separated.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(code: Vec<u8>, ops: Vec<(usize, Range<usize>)>) -> JitListing {
        JitListing {
            address: 0x1000,
            code,
            entries: vec![("call".to_owned(), 0), ("interpreter".to_owned(), 1)],
            ops,
            constants: Vec::new(),
        }
    }

    fn module() -> VerifiedModule {
        let src = ".func two() -> int\n    push 1  push 1  add  ret\n.end\n";
        let m = keel_assembler::assemble(src, "t.kasm", &keel_vm::Linker::new()).unwrap();
        keel_vm::verify(m).unwrap()
    }

    #[test]
    fn a_function_the_jit_left_alone_says_so() {
        let mut text = String::new();
        write_function(&mut text, &module(), 0, None);
        assert_eq!(
            text,
            ".func two() -> int\n    ; not compiled: the JIT leaves this function to the interpreter\n.end\n"
        );
    }

    /// Prologue, op lines with their code, the bytes between ops, the
    /// out-of-line part, in that order; ops outside the function are
    /// listed as code without a line.
    #[test]
    fn sections_come_in_code_order() {
        let m = module();
        let start = m.funcs()[0].start as usize;
        let l = JitListing {
            address: 0x1000,
            code: vec![0x90; 8],
            entries: vec![("call".to_owned(), 0)],
            ops: vec![(start, 1..3), (start + 1, 4..5), (start + 99, 5..6)],
            constants: vec![2f64.to_bits()],
        };
        let mut text = String::new();
        write_function(&mut text, &m, 0, Some(&l));
        let notes: Vec<&str> = text
            .lines()
            .filter(|line| !line.starts_with(CODE_INDENT))
            .collect();
        let mut op0 = String::new();
        crate::write_op_line(&mut op0, &m, 0, start);
        let mut op1 = String::new();
        crate::write_op_line(&mut op1, &m, 0, start + 1);
        assert_eq!(
            notes,
            [
                ".func two() -> int",
                "    ; 8 bytes of machine code at 0x1000",
                "    ; entry call at +0",
                "    ; prologue",
                "        call:",
                op0.trim_end(),
                "    ; between ops",
                op1.trim_end(),
                "    ; out of line: stubs and epilogue",
                "    ; constants",
                ".end",
            ],
            "{text}"
        );
        assert!(
            text.contains("+8      0x4000000000000000  ; 2.0\n"),
            "{text}"
        );
        // One line per nop and one per constant; without the decoder, a
        // row per listed piece.
        let rows = if cfg!(feature = "jit-listing") { 9 } else { 7 };
        assert_eq!(
            text.lines().filter(|l| l.starts_with(CODE_INDENT)).count(),
            rows,
            "{text}"
        );
    }

    /// Each byte is listed once, whatever the ranges claim.
    #[test]
    fn malformed_ranges_list_each_byte_once() {
        // nop; nop; ret; ret
        let l = listing(
            vec![0x90, 0x90, 0xc3, 0xc3],
            vec![(0, Range { start: 3, end: 2 }), (1, 1..3), (2, 2..99)],
        );
        let mut dec = Decoder::new(&l);
        let mut text = String::new();
        dec.write(&mut text, 0..1);
        for (_, r) in &l.ops {
            dec.write(&mut text, r.clone());
        }
        dec.write(&mut text, 0..4);
        assert_eq!(dec.cursor, 4);
        let listed: Vec<&str> = text
            .lines()
            .filter(|line| line.starts_with(CODE_INDENT))
            .collect();
        let bytes: usize = listed
            .iter()
            .map(|line| {
                line.split_whitespace()
                    .skip(2)
                    .take_while(|w| w.len() == 2 && w.bytes().all(|b| b.is_ascii_hexdigit()))
                    .count()
            })
            .sum();
        assert_eq!(bytes, 4, "{text}");
        assert!(text.contains("        call:\n"), "{text}");
        assert!(text.contains("        interpreter:\n"), "{text}");
    }

    #[cfg(feature = "jit-listing")]
    #[test]
    fn decodes_intel_syntax_with_branch_targets() {
        // jmp +2 (to offset 2); ret; mov rax, 0x1f
        let l = listing(
            vec![0xeb, 0x00, 0xc3, 0x48, 0xc7, 0xc0, 0x1f, 0, 0, 0],
            vec![],
        );
        let mut dec = Decoder::new(&l);
        let mut text = String::new();
        dec.write(&mut text, 0..l.code.len());
        assert!(text.contains("; to +2"), "{text}");
        assert!(text.contains(" ret"), "{text}");
        assert!(text.contains("mov     rax, 0x1f"), "{text}");
    }

    #[cfg(feature = "jit-listing")]
    #[test]
    fn undecodable_bytes_are_shown_not_skipped() {
        // A truncated `mov rax, imm32`, then ret.
        let l = listing(vec![0x48, 0xc7], vec![]);
        let mut dec = Decoder::new(&l);
        let mut text = String::new();
        dec.write(&mut text, 0..2);
        assert!(text.contains("(bad)"), "{text}");
        assert_eq!(dec.cursor, 2);
    }
}
