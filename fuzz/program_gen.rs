//! Well-typed Keel programs from a stream of choices, for differential
//! testing of the JIT against the interpreter.
//!
//! The same generator serves the property test
//! (`assembler/tests/jit_differential_calls.rs`, which includes this file)
//! and the `interp_vs_jit` fuzz target: both hand it bytes, and every byte
//! picks one choice. A byte past the end reads as 0, and choice 0 is always
//! the simplest (a literal, no statement, no loop), so every input, however
//! short, gives a complete program, and shrinking bytes towards 0 shrinks
//! the program.
//!
//! Invariants (by construction, so that every program assembles and
//! verifies):
//! - every expression is generated for a type and leaves exactly one value
//!   of that type (`Ty::Any` means statically `any`; a place that accepts
//!   anything gets an expression of a random type instead);
//! - every statement leaves the operand stack as it found it (empty), so
//!   `.if` joins, `.break`, `.continue` and early `ret`s always match;
//! - every local is stored before the body starts (definite assignment),
//!   and the loop counters (`i0`, `i1`, `i2`) and the depth counter `d` are
//!   read but never stored by generated statements;
//! - every call to a generated function passes `d + 1`, and every function
//!   returns at once when `d` passes its limit, so call depth stays small
//!   (recursion and mutual recursion are bounded). Only `countdown`
//!   recurses as deep as its argument, which is how the depth limit trap
//!   is reached.
//!
//! What the programs exercise: calls between up to six functions
//! (recursion, mutual recursion, calls in loops and in expressions with
//! values held on the operand stack across them), loops nested three deep
//! with `.break`/`.continue`, allocation in loops (arrays of every element
//! type, nested arrays, maps, records, strings, string buffers), `any`
//! values and dynamic arithmetic, `is`/`cast`/`isnil`, function references
//! (`fn.ref`/`call.ref`), globals of every type, library calls, `print`,
//! and traps inside callees (index out of bounds, division by zero, `nil`
//! field, explicit `trap`, the depth limit, out of memory, type errors,
//! empty `array.pop`, missing map key, invalid conversion).

use std::fmt::Write as _;

/// A stream of choices read from bytes; past the end every choice is 0.
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    /// Choices read from `data`, first byte first.
    pub fn new(data: &'a [u8]) -> Choices<'a> {
        Choices { data, pos: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// A number in `0..n` (0 when `n` is 0 or 1).
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let v = if n <= 256 {
            usize::from(self.byte())
        } else {
            usize::from(self.byte()) << 8 | usize::from(self.byte())
        };
        v % n
    }

    /// True with probability `k / 256` (false past the end).
    fn chance(&mut self, k: u32) -> bool {
        u32::from(self.byte()) + k >= 256
    }

    /// Whether the input is used up (every later choice is 0).
    fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// The value types programs use: every kind the VM has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ty {
    Int,
    Float,
    Bool,
    Str,
    Any,
    ArrInt,
    ArrFloat,
    ArrBool,
    ArrStr,
    ArrArr,
    ArrAny,
    Map,
    IntMap,
    Node,
    Buf,
    Fn,
}

const TYPES: [Ty; 16] = [
    Ty::Int,
    Ty::Float,
    Ty::Bool,
    Ty::Str,
    Ty::Any,
    Ty::ArrInt,
    Ty::ArrFloat,
    Ty::ArrBool,
    Ty::ArrStr,
    Ty::ArrArr,
    Ty::ArrAny,
    Ty::Map,
    Ty::IntMap,
    Ty::Node,
    Ty::Buf,
    Ty::Fn,
];

const ARRAYS: [Ty; 6] = [
    Ty::ArrInt,
    Ty::ArrFloat,
    Ty::ArrBool,
    Ty::ArrStr,
    Ty::ArrArr,
    Ty::ArrAny,
];

impl Ty {
    /// The type as `.kasm` writes it.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Bool => "bool",
            Ty::Str => "str",
            Ty::Any => "any",
            Ty::ArrInt => "array<int>",
            Ty::ArrFloat => "array<float>",
            Ty::ArrBool => "array<bool>",
            Ty::ArrStr => "array<str>",
            Ty::ArrArr => "array<array<int>>",
            Ty::ArrAny => "array<any>",
            Ty::Map => "map<str,int>",
            Ty::IntMap => "map<int,any>",
            Ty::Node => "Node",
            Ty::Buf => "strbuf",
            Ty::Fn => "fn(int, int) -> int",
        }
    }

    /// A name part for the local and the global of this type.
    fn ident(self) -> &'static str {
        match self {
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Bool => "bool",
            Ty::Str => "str",
            Ty::Any => "any",
            Ty::ArrInt => "ai",
            Ty::ArrFloat => "af",
            Ty::ArrBool => "ab",
            Ty::ArrStr => "as",
            Ty::ArrArr => "aa",
            Ty::ArrAny => "ay",
            Ty::Map => "map",
            Ty::IntMap => "imap",
            Ty::Node => "node",
            Ty::Buf => "buf",
            Ty::Fn => "fn",
        }
    }

    fn elem(self) -> Option<Ty> {
        Some(match self {
            Ty::ArrInt => Ty::Int,
            Ty::ArrFloat => Ty::Float,
            Ty::ArrBool => Ty::Bool,
            Ty::ArrStr => Ty::Str,
            Ty::ArrArr => Ty::ArrInt,
            Ty::ArrAny => Ty::Any,
            _ => return None,
        })
    }

    /// A start value for a local of this type: containers hold a few
    /// elements, `any` an int, records and references are not `nil`.
    fn init_code(self) -> &'static str {
        match self {
            Ty::Any => "push 3",
            Ty::ArrInt => "push [1, 2, 3, 4, 5, 6, 7, 8, 9]",
            Ty::ArrFloat => "push [0.5, 1.5, 2.5, 3.5]",
            Ty::ArrBool => "push [true, false, false, true, true]",
            Ty::ArrStr => "push [\"k0\", \"b\", \"k2\"]",
            Ty::ArrArr => "push 3 push [1, 2, 3] array.new",
            Ty::ArrAny => {
                "push array<any> [] dup push 1 array.push dup push 2.5 array.push dup push \"s\" array.push"
            }
            Ty::Map => "map.new str int dup push \"k0\" push 5 map.set",
            Ty::IntMap => "map.new int any dup push 1 push \"one\" map.set",
            Ty::Node => "push 1 push \"n\" push nil cast Node push 0.5 push 2 rec.new Node",
            Ty::Fn => "fn.ref f0",
            _ => self.default_code(),
        }
    }

    /// An expression of this type that cannot trap or call anything.
    fn default_code(self) -> &'static str {
        match self {
            Ty::Int => "push 0",
            Ty::Float => "push 0.0",
            Ty::Bool => "push false",
            Ty::Str => "push \"\"",
            Ty::Any => "gload g_any",
            Ty::ArrInt => "push array<int> []",
            Ty::ArrFloat => "push array<float> []",
            Ty::ArrBool => "push array<bool> []",
            Ty::ArrStr => "push array<str> []",
            Ty::ArrArr => "push array<array<int>> []",
            Ty::ArrAny => "push array<any> []",
            Ty::Map => "map.new str int",
            Ty::IntMap => "map.new int any",
            Ty::Node => "push nil cast Node",
            Ty::Buf => "call strbuf.new",
            Ty::Fn => "push nil cast fn(int, int) -> int",
        }
    }
}

/// A generated function's signature after its depth parameter `d: int`.
#[derive(Clone, Debug)]
struct Sig {
    params: Vec<Ty>,
    ret: Option<Ty>,
    /// `d` above which the function returns at once.
    limit: u8,
}

impl Sig {
    /// Whether `fn.ref` of the function has type [`Ty::Fn`].
    fn is_fn_ty(&self) -> bool {
        self.params == [Ty::Int] && self.ret == Some(Ty::Int)
    }
}

/// The function being generated: what it may read and store.
struct Scope {
    /// Readable locals and parameters with their types.
    locals: Vec<(String, Ty)>,
    /// Indices into `locals` that statements may store to.
    assignable: Vec<usize>,
    /// Result type (for early returns).
    ret: Option<Ty>,
    /// Loops around the current statement.
    loops: usize,
}

/// Generator state.
struct Gen<'a, 'b> {
    c: &'b mut Choices<'a>,
    out: String,
    sigs: Vec<Sig>,
    /// Statements still allowed in the whole program (keeps it small).
    budget: usize,
    /// Distinct explicit trap messages.
    traps: usize,
}

const INT_BINOPS: [&str; 8] = ["add", "sub", "mul", "and", "or", "xor", "shl", "shr"];
const CMPS: [&str; 6] = ["lt", "le", "gt", "ge", "eq", "ne"];
const FLOAT_OPS: [&str; 4] = ["add", "sub", "mul", "div"];
const STRS: [&str; 8] = ["k0", "k1", "", "a,b", "k2", "h\u{e9}llo", "k3", "xyz"];
const INTS: [i64; 12] = [
    0,
    1,
    2,
    3,
    7,
    -1,
    10,
    100,
    32_768,
    1 << 40,
    i64::MAX,
    i64::MIN,
];
const FLOATS: [&str; 8] = ["0.5", "1.5", "-2.25", "3.0", "1e10", "0.1", "-0.0", "nan"];
/// Most generated functions (besides the entries).
const MAX_FUNCS: usize = 6;

/// A program generated from `data`: functions `f0`..., entry points
/// `entry0`... (no parameters; [`entries`] names them) and `countdown`,
/// with the record `Node` and one global of every type.
pub fn program(data: &[u8]) -> String {
    let mut c = Choices::new(data);
    let nfuncs = 1 + c.below(MAX_FUNCS);
    let mut sigs = Vec::new();
    for k in 0..nfuncs {
        // The first function always has the type of a function reference,
        // so `fn.ref` always has a target.
        let sig = if k == 0 || c.chance(48) {
            Sig {
                params: vec![Ty::Int],
                ret: Some(Ty::Int),
                limit: 1 + c.below(5) as u8,
            }
        } else {
            let nparams = c.below(4);
            let params = (0..nparams).map(|_| TYPES[c.below(TYPES.len())]).collect();
            let ret = if c.chance(40) {
                None
            } else {
                Some(TYPES[c.below(TYPES.len())])
            };
            Sig {
                params,
                ret,
                limit: 1 + c.below(5) as u8,
            }
        };
        sigs.push(sig);
    }
    let nentries = 1 + c.below(4);
    let mut g = Gen {
        c: &mut c,
        out: String::new(),
        sigs,
        budget: 160,
        traps: 0,
    };
    g.out.push_str(
        "; generated by fuzz/program_gen.rs\n.record Node val: int name: str next: Node w: float tag: any .end\n",
    );
    for t in TYPES {
        let _ = writeln!(g.out, ".global g_{}: {}", t.ident(), t.name());
    }
    g.out.push_str(
        ".func countdown(n: int) -> int\n    load n push 0 le .if push 0 ret .endif\n    load n push 1 sub load n call leaf_int call countdown push 1 add ret\n.end\n",
    );
    g.out.push_str(LEAVES);
    for k in 0..g.sigs.len() {
        g.func(k);
    }
    for k in 0..nentries {
        let ret = TYPES[g.c.below(TYPES.len())];
        g.entry(k, ret);
    }
    g.out
}

/// Small leaf functions, which the JIT inlines (straight-line scalar code
/// that cannot trap): called from expressions with operands held across
/// the call, and by `countdown` before it recurses, so that the depth
/// limit is reached at an inlined call.
const LEAVES: &str = "\
.func leaf_int(a: int, b: int) -> int
    load a load b add load a push 7 mul push 3 div sub load b push 5 rem xor ret
.end
.func leaf_float(x: float, n: int) -> float
    load x load n itof push 0.5 mul add load x mul ret
.end
.func leaf_id(a: int) -> int
    load a ret
.end
";

/// The names of the entry points of a [`program`], which a runner calls in
/// order (each with no arguments).
pub fn is_entry(name: &str) -> bool {
    name.starts_with("entry")
}

impl Gen<'_, '_> {
    fn emit(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push(' ');
    }

    fn line(&mut self) {
        self.out.push_str("\n    ");
    }

    /// The locals every function has: one of every type, the loop
    /// counters, and `d` when it is not a parameter.
    fn declare_locals(&mut self, scope: &mut Scope, d_is_local: bool) {
        if d_is_local {
            self.out.push_str("    .local d: int\n");
            scope.locals.push(("d".into(), Ty::Int));
        }
        for i in 0..3 {
            let _ = writeln!(self.out, "    .local i{i}: int");
            scope.locals.push((format!("i{i}"), Ty::Int));
        }
        for t in TYPES {
            let _ = writeln!(self.out, "    .local v_{}: {}", t.ident(), t.name());
        }
        self.out.push_str("    ");
        for t in TYPES {
            // Most start at their default, some at a generated value, which
            // reads only the locals stored before it.
            if self.c.chance(64) {
                self.expr(t, 1, scope);
            } else {
                self.emit(t.init_code());
            }
            let _ = write!(self.out, "store v_{} ", t.ident());
            scope.assignable.push(scope.locals.len());
            scope.locals.push((format!("v_{}", t.ident()), t));
        }
        self.line();
    }

    fn func(&mut self, k: usize) {
        let sig = self.sigs[k].clone();
        let mut scope = Scope {
            locals: vec![("d".into(), Ty::Int)],
            assignable: Vec::new(),
            ret: sig.ret,
            loops: 0,
        };
        let _ = write!(self.out, ".func f{k}(d: int");
        for (j, t) in sig.params.iter().enumerate() {
            let _ = write!(self.out, ", p{j}: {}", t.name());
            scope.assignable.push(scope.locals.len());
            scope.locals.push((format!("p{j}"), *t));
        }
        self.out.push(')');
        if let Some(r) = sig.ret {
            let _ = write!(self.out, " -> {}", r.name());
        }
        self.out.push('\n');
        self.declare_locals(&mut scope, false);
        // The depth guard: bounded recursion.
        let _ = write!(self.out, "load d push {} gt .if ", sig.limit);
        if let Some(r) = sig.ret {
            self.emit(r.init_code());
        }
        self.emit("ret .endif");
        self.line();
        let n = 2 + self.c.below(6);
        self.block(&mut scope, n);
        self.ret(&mut scope);
        self.out.push_str("\n.end\n");
    }

    fn entry(&mut self, k: usize, ret: Ty) {
        let mut scope = Scope {
            locals: Vec::new(),
            assignable: Vec::new(),
            ret: Some(ret),
            loops: 0,
        };
        let _ = writeln!(self.out, ".func entry{k}() -> {}", ret.name());
        self.declare_locals(&mut scope, true);
        if k == 0 {
            // The first entry fills most globals (an empty array or a `nil`
            // would make every access to them trap).
            for t in TYPES {
                if !self.c.chance(40) {
                    let _ = write!(self.out, "{} gstore g_{} ", t.init_code(), t.ident());
                }
            }
            self.line();
        }
        // Mostly the whole body runs in a loop, so that functions are
        // called again and again and allocation piles up.
        let reps = [1, 3, 10, 40, 150][self.c.below(5)];
        let n = 2 + self.c.below(8);
        if reps > 1 {
            let _ = write!(self.out, ".for i0 = 0, {reps}");
            self.line();
            scope.loops = 1;
            self.block(&mut scope, n);
            scope.loops = 0;
            self.emit(".endfor");
            self.line();
        } else {
            self.block(&mut scope, n);
        }
        self.ret(&mut scope);
        self.out.push_str("\n.end\n");
    }

    fn ret(&mut self, scope: &mut Scope) {
        if let Some(r) = scope.ret {
            self.expr(r, 3, scope);
        }
        self.emit("ret");
    }

    fn block(&mut self, scope: &mut Scope, n: usize) {
        for _ in 0..n {
            if self.budget == 0 || self.c.exhausted() {
                return;
            }
            self.budget -= 1;
            self.stmt(scope);
            self.line();
        }
    }

    fn pick_local(&mut self, scope: &Scope, ty: Ty) -> Option<String> {
        let found: Vec<&String> = scope
            .locals
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(n, _)| n)
            .collect();
        if found.is_empty() {
            None
        } else {
            Some(found[self.c.below(found.len())].clone())
        }
    }

    /// Pushes `d + 1`, the depth argument of every call.
    fn depth_arg(&mut self) {
        self.emit("load d push 1 add");
    }

    /// Pushes a call of a function returning `ret` (with `ret == None`, a
    /// function without result), if there is one.
    fn call_returning(&mut self, ret: Option<Ty>, scope: &mut Scope, depth: u32) -> bool {
        let cands: Vec<usize> = (0..self.sigs.len())
            .filter(|&k| self.sigs[k].ret == ret)
            .collect();
        if cands.is_empty() {
            return false;
        }
        let k = cands[self.c.below(cands.len())];
        self.depth_arg();
        for t in self.sigs[k].params.clone() {
            self.expr(t, depth.saturating_sub(1), scope);
        }
        let _ = write!(self.out, "call f{k} ");
        true
    }

    /// An expression whose value goes where `any` is accepted: any type.
    fn any_value(&mut self, scope: &mut Scope, depth: u32) {
        let t = TYPES[self.c.below(TYPES.len())];
        self.expr(t, depth, scope);
    }

    /// With an array on the stack, pushes an index into it: mostly one in
    /// bounds unless the array is empty (the int taken modulo the length),
    /// sometimes a small or any int.
    fn index(&mut self, scope: &mut Scope, depth: u32) {
        if self.c.chance(24) {
            self.expr(Ty::Int, depth, scope);
            if self.c.chance(128) {
                self.emit("push 7 and");
            }
        } else {
            self.emit("dup array.len");
            self.expr(Ty::Int, depth, scope);
            self.emit("push 65535 and swap push 1 call math.imax rem");
        }
    }

    /// Pushes a number as a statically `any` value, boxed through the
    /// local `v_any`.
    fn boxed_number(&mut self, depth: u32, scope: &mut Scope) {
        let t = [Ty::Int, Ty::Float][self.c.below(2)];
        self.expr(t, depth, scope);
        self.emit("store v_any load v_any");
    }

    /// Pushes an `any` and turns it into a `ty`: mostly tested with `is`
    /// first (a default when it is not one), sometimes cast outright
    /// (which traps on a wrong type).
    fn cast_to(&mut self, ty: Ty, depth: u32, scope: &mut Scope) {
        self.expr(Ty::Any, depth, scope);
        let name = ty.name();
        if self.c.chance(6) {
            let _ = write!(self.out, "cast {name} ");
        } else {
            let _ = write!(self.out, "dup is {name} .if cast {name} .else pop ");
            self.emit(ty.init_code());
            self.emit(".endif");
        }
    }

    /// Pushes a `Node`, mostly replaced by a new one when it is `nil` (so
    /// that not every field access traps).
    fn node(&mut self, depth: u32, scope: &mut Scope) {
        self.expr(Ty::Node, depth, scope);
        if !self.c.chance(24) {
            self.emit("dup isnil .if pop push 1 push \"n\" push nil cast Node push 0.5 push 2 rec.new Node .endif");
        }
    }

    fn leaf(&mut self, ty: Ty, scope: &Scope) {
        match self.c.below(3) {
            0 => self.literal(ty),
            1 => match self.pick_local(scope, ty) {
                Some(l) => {
                    let _ = write!(self.out, "load {l} ");
                }
                None => self.literal(ty),
            },
            _ => {
                let _ = write!(self.out, "gload g_{} ", ty.ident());
            }
        }
    }

    fn literal(&mut self, ty: Ty) {
        match ty {
            Ty::Int => {
                let v = INTS[self.c.below(INTS.len())];
                let _ = write!(self.out, "push {v} ");
            }
            Ty::Float => {
                let v = FLOATS[self.c.below(FLOATS.len())];
                let _ = write!(self.out, "push {v} ");
            }
            Ty::Bool => {
                let v = self.c.chance(128);
                let _ = write!(self.out, "push {v} ");
            }
            Ty::Str => {
                let v = STRS[self.c.below(STRS.len())];
                let _ = write!(self.out, "push \"{v}\" ");
            }
            Ty::Fn => {
                let refs: Vec<usize> = (0..self.sigs.len())
                    .filter(|&k| self.sigs[k].is_fn_ty())
                    .collect();
                let k = refs[self.c.below(refs.len())];
                if self.c.chance(16) {
                    self.emit(ty.default_code());
                } else {
                    let _ = write!(self.out, "fn.ref f{k} ");
                }
            }
            // `gload g_any`: statically `any` (`push 3` is an int).
            Ty::Any => self.emit(ty.default_code()),
            // Mostly a container with elements, sometimes an empty one.
            _ if self.c.chance(8) => self.emit(ty.default_code()),
            _ => self.emit(ty.init_code()),
        }
    }

    /// Pushes a value of type `ty`, nesting at most `depth` levels.
    fn expr(&mut self, ty: Ty, depth: u32, scope: &mut Scope) {
        if depth == 0 || self.c.exhausted() || !self.c.chance(170) {
            self.leaf(ty, scope);
            return;
        }
        let d = depth - 1;
        match ty {
            Ty::Int => self.int_expr(d, scope),
            Ty::Float => match self.c.below(7) {
                0 => {
                    self.expr(Ty::Float, d, scope);
                    self.expr(Ty::Float, d, scope);
                    let op = FLOAT_OPS[self.c.below(4)];
                    self.emit(op);
                }
                1 => {
                    self.expr(Ty::Int, d, scope);
                    self.emit("itof");
                }
                2 => {
                    self.expr(Ty::ArrFloat, d, scope);
                    self.index(scope, d);
                    self.emit("array.get");
                }
                3 => {
                    self.node(d, scope);
                    self.emit("rec.get Node.w");
                }
                4 => {
                    self.expr(Ty::Float, d, scope);
                    self.emit("call math.sqrt");
                }
                5 => {
                    self.cast_to(Ty::Float, d, scope);
                }
                _ => {
                    if !self.call_returning(Some(Ty::Float), scope, depth) {
                        self.leaf(ty, scope);
                    }
                }
            },
            Ty::Bool => match self.c.below(9) {
                0 => {
                    self.expr(Ty::Int, d, scope);
                    self.expr(Ty::Int, d, scope);
                    let op = CMPS[self.c.below(6)];
                    self.emit(op);
                }
                1 => {
                    self.expr(Ty::Float, d, scope);
                    self.expr(Ty::Float, d, scope);
                    let op = CMPS[self.c.below(6)];
                    self.emit(op);
                }
                2 => {
                    self.expr(Ty::Str, d, scope);
                    self.expr(Ty::Str, d, scope);
                    let op = CMPS[self.c.below(6)];
                    self.emit(op);
                }
                3 => {
                    self.any_value(scope, d);
                    let t = TYPES[self.c.below(TYPES.len())];
                    let _ = write!(self.out, "is {} ", t.name());
                }
                4 => {
                    let t = [Ty::Node, Ty::Any, Ty::Fn][self.c.below(3)];
                    self.expr(t, d, scope);
                    self.emit("isnil");
                }
                5 => {
                    self.expr(Ty::ArrBool, d, scope);
                    self.index(scope, d);
                    self.emit("array.get");
                }
                6 => {
                    self.expr(Ty::Map, d, scope);
                    self.expr(Ty::Str, d, scope);
                    self.emit("map.has");
                }
                7 => {
                    self.expr(Ty::Bool, d, scope);
                    self.expr(Ty::Bool, d, scope);
                    let op = ["and", "or", "xor", "eq"][self.c.below(4)];
                    self.emit(op);
                }
                _ => {
                    if !self.call_returning(Some(Ty::Bool), scope, depth) {
                        self.expr(Ty::Bool, d, scope);
                        self.emit("not");
                    }
                }
            },
            Ty::Str => match self.c.below(9) {
                0 => {
                    self.expr(Ty::Str, d, scope);
                    self.expr(Ty::Str, d, scope);
                    self.emit("concat");
                }
                1 => {
                    self.any_value(scope, d);
                    self.emit("call str.from");
                }
                2 => {
                    self.expr(Ty::ArrStr, d, scope);
                    self.index(scope, d);
                    self.emit("array.get");
                }
                3 => {
                    self.node(d, scope);
                    self.emit("rec.get Node.name");
                }
                4 => {
                    self.expr(Ty::Buf, d, scope);
                    self.emit("call strbuf.str");
                }
                5 => {
                    self.cast_to(Ty::Str, d, scope);
                }
                6 => {
                    self.expr(Ty::Str, d, scope);
                    self.expr(Ty::Int, d, scope);
                    self.emit("push 3 and call str.repeat");
                }
                7 => {
                    self.expr(Ty::Str, d, scope);
                    self.emit("call str.upper");
                }
                _ => {
                    if !self.call_returning(Some(Ty::Str), scope, depth) {
                        self.leaf(ty, scope);
                    }
                }
            },
            Ty::Any => match self.c.below(6) {
                0 => {
                    // Dynamic arithmetic: any with int, float or any; the
                    // `any` is mostly a number boxed through `v_any` (other
                    // values trap with a type error).
                    if self.c.chance(64) {
                        self.expr(Ty::Any, d, scope);
                    } else {
                        self.boxed_number(d, scope);
                    }
                    let t = [Ty::Int, Ty::Float, Ty::Any][self.c.below(3)];
                    self.expr(t, d, scope);
                    let op = ["add", "sub", "mul"][self.c.below(3)];
                    self.emit(op);
                }
                1 => {
                    self.expr(Ty::ArrAny, d, scope);
                    self.index(scope, d);
                    self.emit("array.get");
                }
                2 => {
                    self.expr(Ty::IntMap, d, scope);
                    self.expr(Ty::Int, d, scope);
                    self.any_value(scope, d);
                    self.emit("map.get_or");
                }
                3 => {
                    self.node(d, scope);
                    self.emit("rec.get Node.tag");
                }
                4 => {
                    if self.c.chance(128) {
                        self.boxed_number(d, scope);
                    } else {
                        self.expr(Ty::Any, d, scope);
                        self.emit("neg");
                    }
                }
                _ => {
                    if !self.call_returning(Some(Ty::Any), scope, depth) {
                        self.leaf(ty, scope);
                    }
                }
            },
            Ty::ArrInt | Ty::ArrFloat | Ty::ArrBool | Ty::ArrStr | Ty::ArrArr | Ty::ArrAny => {
                match self.c.below(5) {
                    0 | 1 => {
                        // A new array of up to 15 copies of one value.
                        self.expr(Ty::Int, d, scope);
                        self.emit("push 15 and push 1 add");
                        let e = ty.elem().unwrap_or(Ty::Int);
                        self.expr(e, d, scope);
                        self.emit("array.new");
                    }
                    2 if ty == Ty::ArrInt => {
                        self.expr(Ty::ArrArr, d, scope);
                        self.index(scope, d);
                        self.emit("array.get");
                    }
                    2 if ty == Ty::ArrStr => {
                        if self.c.chance(128) {
                            self.expr(Ty::Str, d, scope);
                            self.emit("push \",\" call str.split");
                        } else {
                            self.expr(Ty::Map, d, scope);
                            self.emit("map.keys");
                        }
                    }
                    3 => {
                        self.cast_to(ty, d, scope);
                    }
                    _ => {
                        if !self.call_returning(Some(ty), scope, depth) {
                            self.leaf(ty, scope);
                        }
                    }
                }
            }
            Ty::Node => match self.c.below(4) {
                0 | 1 => {
                    self.expr(Ty::Int, d, scope);
                    self.expr(Ty::Str, d, scope);
                    self.expr(Ty::Node, d, scope);
                    self.expr(Ty::Float, d, scope);
                    self.any_value(scope, d);
                    self.emit("rec.new Node");
                }
                2 => {
                    self.node(d, scope);
                    self.emit("rec.get Node.next");
                }
                _ => {
                    if self.c.chance(128) {
                        self.cast_to(Ty::Node, d, scope);
                    } else if !self.call_returning(Some(ty), scope, depth) {
                        self.leaf(ty, scope);
                    }
                }
            },
            Ty::Map | Ty::IntMap | Ty::Buf | Ty::Fn => {
                if self.c.chance(128) {
                    self.cast_to(ty, d, scope);
                } else if !self.call_returning(Some(ty), scope, depth) {
                    self.leaf(ty, scope);
                }
            }
        }
    }

    fn int_expr(&mut self, d: u32, scope: &mut Scope) {
        match self.c.below(18) {
            0 | 1 => {
                self.expr(Ty::Int, d, scope);
                self.expr(Ty::Int, d, scope);
                let op = INT_BINOPS[self.c.below(INT_BINOPS.len())];
                self.emit(op);
            }
            2 => {
                // Division: by an odd number (never zero) or, rarely, by
                // anything.
                self.expr(Ty::Int, d, scope);
                self.expr(Ty::Int, d, scope);
                if self.c.chance(64) {
                    self.emit("push 3 and");
                } else {
                    self.emit("push 1 or");
                }
                let op = ["div", "rem"][self.c.below(2)];
                self.emit(op);
            }
            3 => {
                self.expr(Ty::Int, d, scope);
                let op = ["neg", "not"][self.c.below(2)];
                self.emit(op);
            }
            4 => {
                let t = ARRAYS[self.c.below(ARRAYS.len())];
                self.expr(t, d, scope);
                self.emit("array.len");
            }
            5 | 6 => {
                self.expr(Ty::ArrInt, d, scope);
                self.index(scope, d);
                self.emit("array.get");
            }
            7 => {
                self.expr(Ty::Map, d, scope);
                self.expr(Ty::Str, d, scope);
                if self.c.chance(32) {
                    self.emit("map.get");
                } else {
                    self.expr(Ty::Int, d, scope);
                    self.emit("map.get_or");
                }
            }
            8 => {
                let t = [Ty::Map, Ty::IntMap][self.c.below(2)];
                self.expr(t, d, scope);
                self.emit("map.len");
            }
            9 => {
                self.expr(Ty::Str, d, scope);
                self.emit("call str.len");
            }
            10 | 11 => {
                // Into a function: directly or by reference.
                if self.c.chance(128) {
                    self.depth_arg();
                    self.expr(Ty::Int, d, scope);
                    self.expr(Ty::Fn, d, scope);
                    self.emit("call.ref");
                } else if self.c.chance(64) {
                    // Into a leaf (inlined by the JIT).
                    match self.c.below(3) {
                        0 => {
                            self.expr(Ty::Int, d, scope);
                            self.expr(Ty::Int, d, scope);
                            self.emit("call leaf_int");
                        }
                        1 => {
                            self.expr(Ty::Float, d, scope);
                            self.expr(Ty::Int, d, scope);
                            self.emit("call leaf_float");
                            self.emit(
                                "push 1000000.0 call math.min push -1000000.0 call math.max ftoi",
                            );
                        }
                        _ => {
                            self.expr(Ty::Int, d, scope);
                            self.emit("call leaf_id");
                        }
                    }
                } else if !self.call_returning(Some(Ty::Int), scope, d + 1) {
                    self.leaf(Ty::Int, scope);
                }
            }
            12 => {
                self.expr(Ty::Float, d, scope);
                self.emit("push 1000000.0 call math.min push -1000000.0 call math.max ftoi");
            }
            13 => {
                self.cast_to(Ty::Int, d, scope);
            }
            14 => {
                self.node(d, scope);
                self.emit("rec.get Node.val");
            }
            15 => {
                // Deep recursion: past the depth limit when the argument
                // is large.
                self.expr(Ty::Int, d, scope);
                self.emit("push 255 and call countdown");
            }
            16 => {
                self.expr(Ty::ArrInt, d, scope);
                self.emit("array.pop");
            }
            _ => {
                self.expr(Ty::Str, d, scope);
                self.expr(Ty::Str, d, scope);
                self.emit("call str.find");
            }
        }
    }

    fn stmt(&mut self, scope: &mut Scope) {
        let nested = scope.loops;
        match self.c.below(22) {
            0..=3 => {
                // Store to a local.
                let i = scope.assignable[self.c.below(scope.assignable.len())];
                let (name, t) = scope.locals[i].clone();
                self.expr(t, 3, scope);
                let _ = write!(self.out, "store {name} ");
            }
            4 => {
                let t = TYPES[self.c.below(TYPES.len())];
                self.expr(t, 2, scope);
                let _ = write!(self.out, "gstore g_{} ", t.ident());
            }
            5 => {
                let t = ARRAYS[self.c.below(ARRAYS.len())];
                self.expr(t, 1, scope);
                self.index(scope, 1);
                self.elem_value(t, scope);
                self.emit("array.set");
            }
            6 | 7 => {
                let t = ARRAYS[self.c.below(ARRAYS.len())];
                self.expr(t, 1, scope);
                self.elem_value(t, scope);
                self.emit("array.push");
            }
            8 => {
                if self.c.chance(128) {
                    self.expr(Ty::Map, 1, scope);
                    self.expr(Ty::Str, 1, scope);
                    self.expr(Ty::Int, 2, scope);
                    self.emit("map.set");
                } else if self.c.chance(128) {
                    self.expr(Ty::IntMap, 1, scope);
                    self.expr(Ty::Int, 1, scope);
                    self.any_value(scope, 2);
                    self.emit("map.set");
                } else {
                    self.expr(Ty::Map, 1, scope);
                    self.expr(Ty::Str, 1, scope);
                    self.emit("map.del");
                }
            }
            9 => {
                self.node(1, scope);
                match self.c.below(5) {
                    0 => {
                        self.expr(Ty::Int, 2, scope);
                        self.emit("rec.set Node.val");
                    }
                    1 => {
                        self.expr(Ty::Str, 2, scope);
                        self.emit("rec.set Node.name");
                    }
                    2 => {
                        self.expr(Ty::Node, 2, scope);
                        self.emit("rec.set Node.next");
                    }
                    3 => {
                        self.expr(Ty::Float, 2, scope);
                        self.emit("rec.set Node.w");
                    }
                    _ => {
                        self.any_value(scope, 2);
                        self.emit("rec.set Node.tag");
                    }
                }
            }
            10 => {
                self.expr(Ty::Buf, 1, scope);
                self.any_value(scope, 2);
                self.emit("call strbuf.push");
            }
            11 => {
                self.any_value(scope, 2);
                self.emit("call print");
            }
            12 => {
                // A call for its effects.
                if !self.call_returning(None, scope, 2) {
                    let t = TYPES[self.c.below(TYPES.len())];
                    if self.call_returning(Some(t), scope, 2) {
                        self.emit("pop");
                    }
                }
            }
            13 | 14 => {
                self.expr(Ty::Bool, 2, scope);
                self.emit(".if");
                self.line();
                let n = 1 + self.c.below(3);
                self.block(scope, n);
                if self.c.chance(100) {
                    self.emit(".else");
                    self.line();
                    let n = 1 + self.c.below(3);
                    self.block(scope, n);
                }
                self.emit(".endif");
            }
            15..=17 if nested < 3 => self.for_loop(scope),
            18 => {
                // An explicit trap under a condition.
                self.expr(Ty::Bool, 2, scope);
                self.expr(Ty::Bool, 1, scope);
                self.emit("and");
                self.traps += 1;
                let _ = write!(self.out, ".if trap \"boom {}\" .endif ", self.traps);
            }
            19 if nested > 0 => {
                self.expr(Ty::Bool, 2, scope);
                let jump = if self.c.chance(128) {
                    ".break"
                } else {
                    ".continue"
                };
                let _ = write!(self.out, ".if {jump} .endif ");
            }
            20 => {
                // An early return.
                self.expr(Ty::Bool, 2, scope);
                self.emit(".if");
                self.ret(scope);
                self.emit(".endif");
            }
            21 => {
                // A big allocation: out of memory under a small heap.
                let t = ARRAYS[self.c.below(ARRAYS.len())];
                let n = [1000, 20_000, 300_000, 5_000_000][self.c.below(4)];
                let _ = write!(self.out, "push {n} ");
                // The fill's static type is the element type (`any` too).
                self.expr(t.elem().unwrap_or(Ty::Int), 2, scope);
                let name = format!("v_{}", t.ident());
                let _ = write!(self.out, "array.new store {name} ");
            }
            _ => {
                // Allocation in a loop, kept alive in a list.
                let t = ARRAYS[self.c.below(ARRAYS.len())];
                let n = [3, 10, 50, 200][self.c.below(4)];
                if nested < 3 {
                    let _ = write!(self.out, ".for i{nested} = 0, {n} ");
                }
                let _ = write!(self.out, "load v_{} ", t.ident());
                self.elem_value(t, scope);
                self.emit("array.push");
                if nested < 3 {
                    self.emit(".endfor");
                }
            }
        }
    }

    /// A value an array of type `t` takes as an element.
    fn elem_value(&mut self, t: Ty, scope: &mut Scope) {
        match t.elem() {
            Some(Ty::Any) | None => self.any_value(scope, 2),
            Some(e) => self.expr(e, 2, scope),
        }
    }

    fn for_loop(&mut self, scope: &mut Scope) {
        let i = scope.loops;
        let n = [2, 0, 5, 8, 20, 60, 300][self.c.below(7)];
        // Mostly short; sometimes long enough to be hot.
        let _ = write!(self.out, ".for i{i} = 0, {n}");
        self.line();
        scope.loops += 1;
        let body = 2 + self.c.below(4);
        self.block(scope, body);
        scope.loops -= 1;
        self.emit(".endfor");
    }
}
