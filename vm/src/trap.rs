//! Runtime errors: traps with a code, a message and a Keel backtrace.

use std::fmt;

use crate::module::Pos;

/// What kind of runtime error stopped the program. Each code has a stable
/// snake_case [`TrapCode::name`] that tests and hosts may match on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum TrapCode {
    /// Integer `div` or `rem` by zero.
    DivisionByZero,
    /// Array index outside `0..len`.
    IndexOutOfBounds,
    /// `map.get` of an absent key.
    KeyNotFound,
    /// A dynamic operation on a value of the wrong type (`cast`, `any` ops).
    TypeError,
    /// A conversion or argument out of its domain (`ftoi` of NaN, a negative
    /// length, a bad `str.parse_int` input, slicing off a char boundary).
    InvalidArgument,
    /// The heap limit would be exceeded.
    OutOfMemory,
    /// The call depth limit was exceeded.
    StackOverflow,
    /// The fuel limit was exhausted.
    OutOfFuel,
    /// The host interrupted the run (deadline or interrupt handle).
    Interrupted,
    /// The program executed `trap "message"`.
    Explicit,
    /// A host or library function failed.
    HostError,
    /// `rec.get`/`rec.set` on a `nil` record, or `call.ref` of a `nil`
    /// function reference.
    NilReference,
}

impl TrapCode {
    /// Stable name of the code.
    pub fn name(self) -> &'static str {
        match self {
            TrapCode::DivisionByZero => "division_by_zero",
            TrapCode::IndexOutOfBounds => "index_out_of_bounds",
            TrapCode::KeyNotFound => "key_not_found",
            TrapCode::TypeError => "type_error",
            TrapCode::InvalidArgument => "invalid_argument",
            TrapCode::OutOfMemory => "out_of_memory",
            TrapCode::StackOverflow => "stack_overflow",
            TrapCode::OutOfFuel => "out_of_fuel",
            TrapCode::Interrupted => "interrupted",
            TrapCode::Explicit => "explicit",
            TrapCode::HostError => "host_error",
            TrapCode::NilReference => "nil_reference",
        }
    }
}

/// One frame of a Keel backtrace.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TraceFrame {
    /// Function name.
    pub func: String,
    /// Byte offset of the instruction in the function's code.
    pub offset: u32,
    /// Source file, when the module has debug info.
    pub file: Option<String>,
    /// Source position, when the module has debug info.
    pub pos: Option<Pos>,
}

impl fmt::Display for TraceFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.pos) {
            (Some(file), Some(p)) => write!(f, "at {} ({}:{}:{})", self.func, file, p.line, p.col),
            _ => write!(f, "at {} (offset {})", self.func, self.offset),
        }
    }
}

/// A runtime error.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Trap {
    /// The kind of error.
    pub code: TrapCode,
    /// Human-readable message, for example `index 5 out of bounds for length 3`.
    pub message: String,
    /// Keel frames, innermost first (empty for traps raised outside Keel
    /// code). Very deep stacks keep only their innermost
    /// [`TRACE_HEAD`] and outermost [`TRACE_TAIL`] frames.
    pub backtrace: Vec<TraceFrame>,
    /// Frames left out between the two parts of a long backtrace: they
    /// belong after `backtrace[TRACE_HEAD - 1]`.
    pub omitted_frames: usize,
}

/// Innermost frames a backtrace keeps.
pub const TRACE_HEAD: usize = 40;
/// Outermost frames a backtrace keeps.
pub const TRACE_TAIL: usize = 10;

impl Trap {
    /// A trap without backtrace (the interpreter adds it).
    #[cold]
    pub fn new(code: TrapCode, message: impl Into<String>) -> Trap {
        Trap {
            code,
            message: message.into(),
            backtrace: Vec::new(),
            omitted_frames: 0,
        }
    }

    /// A `type error: expected X, found Y` trap.
    #[cold]
    pub fn type_error(expected: impl fmt::Display, found: impl fmt::Display) -> Trap {
        Trap::new(
            TrapCode::TypeError,
            format!("type error: expected {expected}, found {found}"),
        )
    }

    /// An `index I out of bounds for length N` trap.
    #[cold]
    pub fn index(i: i64, len: usize) -> Trap {
        Trap::new(
            TrapCode::IndexOutOfBounds,
            format!("index {i} out of bounds for length {len}"),
        )
    }

    /// The `out of memory: heap limit of N bytes exceeded` trap.
    #[cold]
    pub fn out_of_memory(limit: usize) -> Trap {
        Trap::new(
            TrapCode::OutOfMemory,
            format!("out of memory: heap limit of {limit} bytes exceeded"),
        )
    }

    /// The `stack overflow: call depth limit N exceeded` trap.
    #[cold]
    pub fn call_depth(limit: usize) -> Trap {
        Trap::new(
            TrapCode::StackOverflow,
            format!("stack overflow: call depth limit {limit} exceeded"),
        )
    }

    /// The `stack overflow: host call nesting limit N exceeded` trap: host
    /// functions calling back into the instance nested too deeply.
    #[cold]
    pub fn host_depth(limit: usize) -> Trap {
        Trap::new(
            TrapCode::StackOverflow,
            format!("stack overflow: host call nesting limit {limit} exceeded"),
        )
    }

    /// The `stack overflow: value stack limit of N bytes exceeded` trap.
    #[cold]
    pub fn value_stack(slots: usize) -> Trap {
        Trap::new(
            TrapCode::StackOverflow,
            format!(
                "stack overflow: value stack limit of {} bytes exceeded",
                slots * 16
            ),
        )
    }

    /// A `nil reference: WHAT` trap (`WHAT` is `Body.x` or `call.ref`).
    #[cold]
    pub fn nil_reference(what: impl fmt::Display) -> Trap {
        Trap::new(TrapCode::NilReference, format!("nil reference: {what}"))
    }

    /// An invalid-argument trap with `message`.
    #[cold]
    pub fn invalid(message: impl Into<String>) -> Trap {
        Trap::new(TrapCode::InvalidArgument, message)
    }
}

impl Trap {
    /// The message and backtrace as `vmrun` prints them: `error: MESSAGE`,
    /// then the [`Trap::trace`] lines.
    pub fn report(&self) -> String {
        format!("error: {}\n{}", self.message, self.trace())
    }

    /// The backtrace, one `  at FUNCTION (FILE:LINE:COL)` line per frame,
    /// innermost first. A run of identical lines (deep recursion) shows
    /// once, then `  ... N more frames of FUNCTION`; frames a long
    /// backtrace left out show as `  ... N more frames ...`.
    pub fn trace(&self) -> String {
        let mut s = String::new();
        let mut i = 0;
        while i < self.backtrace.len() {
            if i == TRACE_HEAD && self.omitted_frames > 0 {
                s.push_str(&format!("  ... {} more frames ...\n", self.omitted_frames));
            }
            let frame = &self.backtrace[i];
            // A run stops at the gap of omitted frames: what they were is
            // not known.
            let end = if i < TRACE_HEAD && self.omitted_frames > 0 {
                TRACE_HEAD.min(self.backtrace.len())
            } else {
                self.backtrace.len()
            };
            let repeats = self.backtrace[i + 1..end]
                .iter()
                .take_while(|f| *f == frame)
                .count();
            s.push_str(&format!("  {frame}\n"));
            if repeats > 0 {
                s.push_str(&format!(
                    "  ... {repeats} more frame{} of {}\n",
                    if repeats == 1 { "" } else { "s" },
                    frame.func
                ));
            }
            i += 1 + repeats;
        }
        s
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Trap {}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(func: &str, line: u32) -> TraceFrame {
        TraceFrame {
            func: func.into(),
            offset: 0,
            file: Some("t.kasm".into()),
            pos: Some(Pos { line, col: 5 }),
        }
    }

    #[test]
    fn repeated_frames_fold() {
        let mut trap = Trap::new(TrapCode::Explicit, "boom");
        trap.backtrace = vec![frame("g", 1)];
        trap.backtrace
            .extend(std::iter::repeat_n(frame("f", 3), 50));
        trap.backtrace.push(frame("main", 9));
        assert_eq!(
            trap.report(),
            "error: boom\n  at g (t.kasm:1:5)\n  at f (t.kasm:3:5)\n  ... 49 more frames of f\n  at main (t.kasm:9:5)\n"
        );
    }

    #[test]
    fn runs_stop_at_the_omitted_gap() {
        let mut trap = Trap::new(TrapCode::StackOverflow, "deep");
        trap.backtrace = std::iter::repeat_n(frame("f", 3), TRACE_HEAD + TRACE_TAIL).collect();
        trap.omitted_frames = 7;
        let shown = trap.trace();
        assert_eq!(
            shown,
            format!(
                "  at f (t.kasm:3:5)\n  ... {} more frames of f\n  ... 7 more frames ...\n  at f (t.kasm:3:5)\n  ... {} more frames of f\n",
                TRACE_HEAD - 1,
                TRACE_TAIL - 1
            )
        );
    }
}
