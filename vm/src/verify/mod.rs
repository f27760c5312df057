//! The verifier: proves a [`Module`] safe to run and specializes its code.
//!
//! Rules (each failure is a [`VerifyError`] naming its rule, see
//! `spec/verifier.md`):
//!
//! - V1 every local, global, constant, function and import index is in range;
//! - V2 jump targets are instruction starts inside the same function;
//! - V3 every path into an instruction brings the same stack height and types;
//! - V4 no instruction pops from an empty stack;
//! - V5 operand types fit each instruction;
//! - V6 at `ret` the stack holds exactly the declared result;
//! - V7 no path runs past the last instruction;
//! - V8 `call` arguments match the callee's signature;
//! - V9 `str`/array/map locals are stored before they are loaded;
//! - V10 `main`, when present, has a signature `vmrun` can call;
//! - V11 code decodes; V12 declarations are well formed; V13 size limits.
//!
//! Algorithm: a worklist over basic blocks. Types and whole stacks are
//! hash-consed (a stack is the id of its top node), so comparing two stacks
//! at a join is O(1) and every block's types are fixed by the first path that
//! reaches it: each block is typed once. Only the definite-assignment set
//! (a bitset over non-parameter reference locals) can shrink at a join and
//! re-queue a block, and since it only shrinks, a block is revisited at most
//! once per such local that its predecessors disagree on. Blocks are
//! processed lowest offset first, so straight-line and loop code settles in
//! one or two passes.
//!
//! Because stack types at each instruction are fixed on first visit, the
//! specialized [`Op`] chosen for an instruction never changes on revisits.

mod assigned;
mod code;
mod edit;
mod error;
mod fuse;
mod refs;
mod unify;

pub use code::Op;
pub use edit::ModuleEdit;
pub use error::{VerifyError, VerifyErrorKind, VerifyErrors};
pub use fuse::Cmp;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::isa::{self, ArrayLit, Instr, Opcode, Operand};
use crate::module::{GlobalInit, Module};
use crate::types::{FuncType, Type};
use assigned::{SetId, SetTable};

/// Most locals (parameters included) a function may have.
pub const MAX_LOCALS: usize = u16::MAX as usize;
/// Deepest operand stack a function may use.
pub const MAX_STACK: usize = 1 << 16;
/// Instruction visits the verifier may spend per instruction of a function
/// (plus a small constant) before giving up with V13: the guarantee that
/// verification time is linear in the code size.
pub const WORK_PER_INSTRUCTION: usize = 16;
/// Most record types a module may declare, and most fields a record may
/// have (so `rec.*` ops keep both indices in 16 bits).
pub const MAX_RECORDS: usize = u16::MAX as usize;

/// A literal the interpreter materializes from the constant table.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Const {
    /// An int too large for [`Op::PushSmallInt`], or the constant of a
    /// superinstruction whose own field is too narrow for it (`fuse`).
    Int(i64),
    /// A float.
    Float(f64),
}

/// A verified function.
#[derive(Clone, Debug)]
pub struct VerifiedFunc {
    /// Index of the function's first op in [`VerifiedModule::code`].
    pub start: u32,
    /// Byte offset in the original code of each op (for traces and errors).
    pub offsets: Vec<u32>,
    /// Number of parameters.
    pub num_params: u32,
    /// Number of locals including parameters.
    pub num_locals: u32,
    /// Type of every local, parameters first.
    pub local_types: Vec<Type>,
    /// Maximum operand stack depth.
    pub max_stack: u32,
    /// Whether the function returns a value.
    pub has_result: bool,
    /// For checked execution: the operand stack the verifier proved at the
    /// entry of each op, as an index into `stack_nodes` (`u32::MAX` for
    /// code no path reaches; 0 is the empty stack).
    pub entry_stacks: Vec<u32>,
    /// The function's stacks as a tree: `(parent, type index)` per node,
    /// node 0 being the empty stack; type indices point into
    /// [`VerifiedModule::types`].
    pub stack_nodes: Vec<(u32, u32)>,
}

impl VerifiedFunc {
    /// The operand stack types proved at the entry of op `index` (relative
    /// to the function's start), bottom first, as type-table indices;
    /// `None` for unreachable code.
    pub fn stack_at(&self, index: usize) -> Option<Vec<u32>> {
        let mut node = *self.entry_stacks.get(index)?;
        if node == u32::MAX {
            return None;
        }
        let mut out = Vec::new();
        while node != 0 {
            let (parent, ty) = self.stack_nodes[node as usize];
            out.push(ty);
            node = parent;
        }
        out.reverse();
        Some(out)
    }
}

/// A module that passed verification, with its specialized code.
///
/// There is no other way to build one than [`verify`], so holding one is
/// proof that every rule holds.
#[derive(Clone, Debug)]
pub struct VerifiedModule {
    module: Module,
    funcs: Vec<VerifiedFunc>,
    code: Vec<Op>,
    types: Vec<Type>,
    consts: Vec<Const>,
    arrays: Vec<ArrayLit>,
    snippet: Option<Snippet>,
    /// What [`VerifiedModule::edit`] looks up (callers, names), built by
    /// the first edit and kept up to date by later ones (see `edit.rs`).
    index: Option<edit::EditIndex>,
}

/// A function verified by [`verify_snippet`]: it starts with values already
/// on its operand stack and ends where its code ends, handing back its
/// whole operand stack (the REPL runs each input line as one).
#[derive(Clone, Debug)]
pub struct Snippet {
    /// The function's index.
    pub func: usize,
    /// The operand stack it starts with, bottom first.
    pub entry: Vec<Type>,
    /// The operand stack it ends with, bottom first; `None` when no path
    /// reaches the end (the code loops forever or traps).
    pub exit: Option<Vec<Type>>,
}

impl VerifiedModule {
    /// The module as loaded (names, imports, debug info).
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Verified functions, in module order.
    pub fn funcs(&self) -> &[VerifiedFunc] {
        &self.funcs
    }

    /// The specialized code of every function, one after another; jump
    /// targets are indices into it. One op per source instruction.
    pub fn code(&self) -> &[Op] {
        &self.code
    }

    /// The code of function `f`.
    pub fn func_code(&self, f: usize) -> &[Op] {
        let start = self.funcs[f].start as usize;
        &self.code[start..start + self.funcs[f].offsets.len()]
    }

    /// The function containing the op at `pc` in [`VerifiedModule::code`].
    pub fn func_at(&self, pc: usize) -> usize {
        self.funcs
            .partition_point(|f| f.start as usize <= pc)
            .saturating_sub(1)
    }

    /// The type table that `Cast`, `ArrayNewVal` and `MapNew` index.
    pub fn types(&self) -> &[Type] {
        &self.types
    }

    /// The constant table that `PushConst` indexes.
    pub fn consts(&self) -> &[Const] {
        &self.consts
    }

    /// The array literals that `PushArray` indexes.
    pub fn array_lits(&self) -> &[ArrayLit] {
        &self.arrays
    }

    /// The snippet function, for a module from [`verify_snippet`].
    pub fn snippet(&self) -> Option<&Snippet> {
        self.snippet.as_ref()
    }
}

/// Verifies `module`, returning its specialized form or every failure found.
///
/// Within one function, verification stops at the first failure (the
/// abstract state after it would be meaningless); other functions are still
/// checked.
///
/// # Errors
///
/// [`VerifyErrors`] with one [`VerifyError`] per failure.
pub fn verify(module: Module) -> Result<VerifiedModule, VerifyErrors> {
    verify_with(module, None)
}

/// Verifies `module` like [`verify`], except that function `func` is a
/// *snippet*: it starts with values of types `entry` on its operand stack
/// (bottom first), may not `ret`, and ends by running past its last
/// instruction, which hands its whole operand stack back to the host
/// ([`crate::Instance::run_snippet`]). No function may call it, and it must
/// take no parameters and return nothing. This is how the REPL runs a line
/// against its persistent stack; everything else in the module is verified
/// exactly as by [`verify`].
///
/// # Errors
///
/// As [`verify`].
pub fn verify_snippet(
    module: Module,
    func: usize,
    entry: &[Type],
) -> Result<VerifiedModule, VerifyErrors> {
    verify_with(
        module,
        Some(Snippet {
            func,
            entry: entry.to_vec(),
            exit: None,
        }),
    )
}

fn verify_with(module: Module, snippet: Option<Snippet>) -> Result<VerifiedModule, VerifyErrors> {
    let mut v = Verifier {
        module: &module,
        types: TypeTable::default(),
        consts: Vec::new(),
        arrays: Vec::new(),
        array_at: HashMap::new(),
        errors: Vec::new(),
        snippet,
        record_ids: std::borrow::Cow::Owned(refs::record_ids(&module.records)),
    };
    v.check_declarations();
    v.check_snippet();
    let mut funcs = Vec::with_capacity(module.funcs.len());
    let mut code = Vec::new();
    for i in 0..module.funcs.len() {
        match v.verify_func(i) {
            Ok((mut f, func_code)) => {
                // Funcs are laid out one after another; 2^32 ops would need
                // far more than MAX_CODE bytes of input, checked below.
                let start = code.len() as u32;
                f.start = start;
                code.extend(func_code.into_iter().map(|op| op.relocated(start)));
                funcs.push(f);
            }
            Err(e) => v.errors.push(e),
        }
    }
    if !v.errors.is_empty() {
        return Err(VerifyErrors(v.errors));
    }
    let types = v.types.types;
    let consts = v.consts;
    let arrays = v.arrays;
    let snippet = v.snippet;
    Ok(VerifiedModule {
        module,
        funcs,
        code,
        types,
        consts,
        arrays,
        snippet,
        index: None,
    })
}

type TypeId = u32;

/// The literal `nil` as the dynamic ops see it: an `any` (so `push nil
/// push 1 add` is a dynamic add that traps, as it always was).
fn as_any(t: TypeId) -> TypeId {
    if t == T_NIL { T_ANY } else { t }
}

const T_INT: TypeId = 0;
const T_FLOAT: TypeId = 1;
const T_BOOL: TypeId = 2;
const T_STR: TypeId = 3;
const T_ANY: TypeId = 4;
const T_NIL: TypeId = 5;

/// Hash-consed types: equal types have equal ids.
struct TypeTable {
    types: Vec<Type>,
    ids: HashMap<Type, TypeId>,
}

impl Default for TypeTable {
    fn default() -> Self {
        let mut t = TypeTable {
            types: Vec::new(),
            ids: HashMap::new(),
        };
        for ty in [
            Type::Int,
            Type::Float,
            Type::Bool,
            Type::Str,
            Type::Any,
            Type::Nil,
        ] {
            t.intern(&ty);
        }
        t
    }
}

impl TypeTable {
    fn intern(&mut self, ty: &Type) -> TypeId {
        if let Some(&id) = self.ids.get(ty) {
            return id;
        }
        let id = self.types.len() as TypeId;
        self.types.push(ty.clone());
        self.ids.insert(ty.clone(), id);
        id
    }

    fn get(&self, id: TypeId) -> &Type {
        &self.types[id as usize]
    }
}

/// Hash-consed operand stacks: node 0 is the empty stack.
struct StackTable {
    nodes: Vec<StackNode>,
    ids: HashMap<(u32, TypeId), u32>,
}

#[derive(Clone, Copy)]
struct StackNode {
    parent: u32,
    ty: TypeId,
    depth: u32,
}

impl StackTable {
    fn new() -> Self {
        StackTable {
            nodes: vec![StackNode {
                parent: 0,
                ty: T_ANY,
                depth: 0,
            }],
            ids: HashMap::new(),
        }
    }

    fn push(&mut self, stack: u32, ty: TypeId) -> u32 {
        if let Some(&id) = self.ids.get(&(stack, ty)) {
            return id;
        }
        let id = self.nodes.len() as u32;
        let depth = self.nodes[stack as usize].depth + 1;
        self.nodes.push(StackNode {
            parent: stack,
            ty,
            depth,
        });
        self.ids.insert((stack, ty), id);
        id
    }

    fn depth(&self, stack: u32) -> usize {
        self.nodes[stack as usize].depth as usize
    }

    /// The types of the top `k` slots (fewer when the stack is shallower),
    /// bottom first, reading only those `k` nodes.
    fn top(&self, mut stack: u32, k: usize) -> Vec<TypeId> {
        let mut out = Vec::with_capacity(k.min(self.depth(stack)));
        while stack != 0 && out.len() < k {
            let n = self.nodes[stack as usize];
            out.push(n.ty);
            stack = n.parent;
        }
        out.reverse();
        out
    }

    /// The types of the stack, bottom first.
    fn types(&self, mut stack: u32) -> Vec<TypeId> {
        let mut out = Vec::new();
        while stack != 0 {
            let n = self.nodes[stack as usize];
            out.push(n.ty);
            stack = n.parent;
        }
        out.reverse();
        out
    }
}

struct Verifier<'m> {
    module: &'m Module,
    types: TypeTable,
    consts: Vec<Const>,
    /// Array literals of `push [...]`, indexed by `Op::PushArray`.
    arrays: Vec<ArrayLit>,
    /// Where each `push [...]` put its literal, by (function, instruction),
    /// so a block typed again reuses it instead of adding a copy.
    array_at: HashMap<(usize, usize), u32>,
    errors: Vec<VerifyError>,
    /// The snippet function of [`verify_snippet`]; its `exit` is filled in
    /// when the function is verified.
    snippet: Option<Snippet>,
    /// Record names to indices (the first of duplicates), so naming a
    /// record costs the same however many the module declares. Built here
    /// for a whole module; an edit lends the one its index keeps.
    record_ids: std::borrow::Cow<'m, HashMap<String, u32>>,
}

/// Abstract state at one program point.
#[derive(Clone, Copy, PartialEq)]
struct State {
    stack: u32,
    /// The tracked reference locals definitely assigned here: an id in the
    /// function's [`SetTable`], keys being `ref_bit` indices.
    assigned: SetId,
}

impl<'m> Verifier<'m> {
    fn decl_error(&mut self, func: Option<&str>, msg: String) {
        self.errors.push(VerifyError {
            func: func.map(str::to_owned),
            offset: None,
            pos: None,
            kind: VerifyErrorKind::BadDeclaration(msg),
        });
    }

    /// V10 and V12: names, types and initializers of declarations.
    fn check_declarations(&mut self) {
        let m = self.module;
        self.check_records(0);
        let mut seen = HashSet::new();
        for im in &m.imports {
            if !seen.insert(im.name.as_str()) {
                self.decl_error(None, format!("import `{}` is declared twice", im.name));
            }
            for t in im.ty.types() {
                self.check_declared_type(None, &format!("import `{}`", im.name), t);
            }
        }
        let mut seen = HashSet::new();
        for g in &m.globals {
            if !seen.insert(g.name.as_str()) {
                self.decl_error(None, format!("global `{}` is declared twice", g.name));
            }
            if g.ty.has_var() {
                self.decl_error(
                    None,
                    format!("global `{}` has a generic type {}", g.name, g.ty),
                );
            }
            self.check_declared_type(None, &format!("global `{}`", g.name), &g.ty);
            let ok = match &g.init {
                GlobalInit::Default => true,
                GlobalInit::Int(_) => g.ty == Type::Int,
                GlobalInit::Float(_) => g.ty == Type::Float,
                GlobalInit::Bool(_) => g.ty == Type::Bool,
                GlobalInit::Nil => g.ty.is_nullable(),
                GlobalInit::Array(lit) => {
                    self.check_array_lit(None, lit);
                    g.ty == Type::array(lit.elem())
                }
                GlobalInit::Str(i) => {
                    if (*i as usize) >= m.strings.len() {
                        self.errors.push(VerifyError {
                            func: None,
                            offset: None,
                            pos: None,
                            kind: VerifyErrorKind::IndexOutOfRange {
                                what: "string constant",
                                index: *i,
                                len: m.strings.len(),
                            },
                        });
                    }
                    g.ty == Type::Str
                }
            };
            if !ok {
                self.decl_error(
                    None,
                    format!(
                        "global `{}` of type {} cannot start as {:?}",
                        g.name, g.ty, g.init
                    ),
                );
            }
        }
        let mut seen = HashSet::new();
        for (fi, f) in m.funcs.iter().enumerate() {
            if !seen.insert(f.name.as_str()) {
                self.decl_error(
                    Some(&f.name),
                    format!("function `{}` is defined twice", f.name),
                );
            }
            self.check_signature(m, fi);
        }
    }

    /// The declaration rules for function `fi`'s own types: no type
    /// variables (those are for library signatures), and `main` takes
    /// nothing or `array<str>` and returns nothing or an int.
    fn check_signature(&mut self, m: &Module, fi: usize) {
        let f = &m.funcs[fi];
        for t in f.ty.params.iter().chain(&f.locals).chain(&f.ty.result) {
            self.check_declared_type(Some(&f.name), &format!("function `{}`", f.name), t);
        }
        if f.ty
            .params
            .iter()
            .chain(&f.locals)
            .chain(&f.ty.result)
            .any(Type::has_var)
        {
            self.decl_error(
                Some(&f.name),
                format!("function `{}` uses a type variable", f.name),
            );
        }
        if f.name == "main" {
            let params_ok = f.ty.params.is_empty() || f.ty.params == [Type::array(Type::Str)];
            let result_ok = matches!(f.ty.result, None | Some(Type::Int));
            if !(params_ok && result_ok) {
                self.errors.push(VerifyError {
                    func: Some(f.name.clone()),
                    offset: None,
                    pos: m.func_debug(fi).map(|d| d.pos),
                    kind: VerifyErrorKind::BadMain {
                        found: f.ty.to_string(),
                    },
                });
            }
        }
    }

    /// The snippet's own declaration rules: an existing function without
    /// parameters or result, and entry types that are value types.
    fn check_snippet(&mut self) {
        let Some(sn) = &self.snippet else { return };
        let problem = match self.module.funcs.get(sn.func) {
            None => Some(format!("snippet function index {} out of range", sn.func)),
            Some(f) if !f.ty.params.is_empty() || f.ty.result.is_some() => Some(format!(
                "snippet function `{}` must take no parameters and return nothing",
                f.name
            )),
            Some(_) => sn
                .entry
                .iter()
                .find(|t| t.has_var())
                .map(|t| format!("snippet entry stack holds a generic type {t}")),
        };
        if let Some(msg) = problem {
            self.decl_error(None, msg);
        }
    }

    fn is_snippet(&self, fi: usize) -> bool {
        self.snippet.as_ref().is_some_and(|s| s.func == fi)
    }

    fn verify_func(&mut self, fi: usize) -> Result<(VerifiedFunc, Vec<Op>), VerifyError> {
        let m = self.module;
        let func = &m.funcs[fi];
        let fail = |offset: Option<u32>, kind: VerifyErrorKind| VerifyError {
            func: Some(func.name.clone()),
            offset,
            pos: offset
                .and_then(|o| m.func_debug(fi).and_then(|d| d.pos_at(o)))
                .or_else(|| m.func_debug(fi).map(|d| d.pos)),
            kind,
        };
        if func.num_locals() > MAX_LOCALS {
            return Err(fail(
                None,
                VerifyErrorKind::LimitExceeded {
                    what: "number of locals",
                    limit: MAX_LOCALS,
                },
            ));
        }
        let instrs = isa::decode_code(&func.code, 0).map_err(|e| {
            fail(
                Some(e.offset as u32),
                VerifyErrorKind::Decode(e.kind.to_string()),
            )
        })?;
        let n = instrs.len();
        if n == 0 {
            return Err(fail(None, VerifyErrorKind::FallsOffEnd));
        }
        // Map byte offsets to instruction indices (V2).
        let mut index_of = vec![u32::MAX; func.code.len()];
        for (i, (off, _)) in instrs.iter().enumerate() {
            index_of[*off as usize] = i as u32;
        }
        let target_index = |off: u32, at: u32| -> Result<u32, VerifyError> {
            match index_of.get(off as usize) {
                Some(&i) if i != u32::MAX => Ok(i),
                _ => Err(fail(
                    Some(at),
                    VerifyErrorKind::BadJumpTarget { target: off },
                )),
            }
        };
        // Leaders: entry, jump targets, and instructions after a branch.
        let mut leader = vec![false; n];
        leader[0] = true;
        let mut targets = vec![u32::MAX; n];
        for (i, (off, ins)) in instrs.iter().enumerate() {
            if let Operand::Target(t) = ins.operand {
                let ti = target_index(t, *off)?;
                targets[i] = ti;
                leader[ti as usize] = true;
                if i + 1 < n {
                    leader[i + 1] = true;
                }
            } else if ins.op.is_terminator() && i + 1 < n {
                leader[i + 1] = true;
            }
        }

        let local_types: Vec<Type> = func.ty.params.iter().chain(&func.locals).cloned().collect();
        let local_tids: Vec<TypeId> = local_types.iter().map(|t| self.types.intern(t)).collect();
        // Definite assignment tracks only the non-parameter reference
        // locals some load may read before a store in its own block.
        let np = func.ty.params.len();
        let (ref_bit, nbits) = assigned::tracked_locals(&instrs, &leader, &local_types, np);
        let mut sets = SetTable::new(nbits);
        // Tracked locals stored in the current block and not yet in its
        // set (`pending`), with a mark per tracked local; applied to the
        // set with one `insert_all` where the block ends.
        let mut pending: Vec<u32> = Vec::new();
        let mut pending_mark = vec![false; nbits as usize];

        let mut stacks = StackTable::new();
        let snippet = self.is_snippet(fi);
        let mut entry_stack = 0;
        if snippet {
            let entry_types = self
                .snippet
                .as_ref()
                .map(|s| s.entry.clone())
                .unwrap_or_default();
            for t in &entry_types {
                let id = self.types.intern(t);
                entry_stack = stacks.push(entry_stack, id);
            }
        }
        // A snippet ends where its code ends: the state there, if reached.
        let mut exit: Option<u32> = None;
        let mut entry: Vec<Option<State>> = vec![None; n];
        entry[0] = Some(State {
            stack: entry_stack,
            assigned: assigned::EMPTY,
        });
        let mut max_depth = stacks.depth(entry_stack);
        let mut queued = vec![false; n];
        let mut work = BinaryHeap::new();
        work.push(Reverse(0u32));
        queued[0] = true;
        let mut code = vec![Op::Unreachable; n];
        let mut entry_stacks = vec![u32::MAX; n];
        // The jump (instruction index) whose path first reached each
        // instruction, or u32::MAX for a fall-through or the entry: named
        // in stack mismatch errors.
        let mut came_from = vec![u32::MAX; n];

        // Work budget: every instruction is typed once, and revisits (only
        // for definite assignment) are capped so verification stays linear
        // in the code size even for adversarial control flow. Real code
        // settles in one or two passes.
        let budget = n.saturating_mul(WORK_PER_INSTRUCTION).saturating_add(1024);
        let mut work_done = 0usize;
        while let Some(Reverse(start)) = work.pop() {
            queued[start as usize] = false;
            let mut st = entry[start as usize].expect("queued blocks have a state");
            let mut i = start as usize;
            loop {
                let (off, ins) = &instrs[i];
                let mut cx = InstrCx {
                    v: self,
                    stacks: &mut stacks,
                    st: &mut st,
                    func: &func.ty,
                    local_types: &local_types,
                    local_tids: &local_tids,
                    ref_bit: &ref_bit,
                    sets: &mut sets,
                    pending: &mut pending,
                    pending_mark: &mut pending_mark,
                    fi,
                    targets: &targets,
                    index: i,
                };
                work_done += 1;
                if work_done > budget {
                    return Err(fail(
                        Some(*off),
                        VerifyErrorKind::LimitExceeded {
                            what: "verification work (instruction visits and definite-assignment set steps)",
                            limit: budget,
                        },
                    ));
                }
                let before = cx.st.stack;
                let op = cx.step(ins).map_err(|k| fail(Some(*off), k))?;
                code[i] = op;
                entry_stacks[i] = before;
                max_depth = max_depth.max(stacks.depth(st.stack));
                if max_depth > MAX_STACK {
                    return Err(fail(
                        Some(*off),
                        VerifyErrorKind::LimitExceeded {
                            what: "operand stack depth",
                            limit: MAX_STACK,
                        },
                    ));
                }
                // Successors see the block's stores.
                if targets[i] != u32::MAX
                    || ins.op.is_terminator()
                    || leader.get(i + 1) != Some(&false)
                {
                    for k in &pending {
                        pending_mark[*k as usize] = false;
                    }
                    st.assigned = sets.insert_all(st.assigned, &mut pending);
                    pending.clear();
                }
                let mut join = |to: usize, st: &State, jump: u32| -> Result<(), VerifyError> {
                    match &mut entry[to] {
                        None => {
                            entry[to] = Some(*st);
                            came_from[to] = jump;
                        }
                        Some(have) => {
                            let mut widened = false;
                            if have.stack != st.stack {
                                // `nil` meets a record or function type:
                                // the join takes the type, and the block
                                // is typed again with it.
                                match refs::join_stacks(
                                    &mut stacks,
                                    &self.types,
                                    have.stack,
                                    st.stack,
                                    &mut work_done,
                                ) {
                                    Some(j) if j == have.stack => {}
                                    Some(j) => {
                                        have.stack = j;
                                        widened = true;
                                    }
                                    None => {
                                        let show = |s| self.stack_string(&stacks, s);
                                        let via = |j| jump_via(m, fi, &instrs, j);
                                        return Err(fail(
                                            Some(instrs[to].0),
                                            VerifyErrorKind::StackMismatch {
                                                expected: show(have.stack),
                                                found: show(st.stack),
                                                via: Box::new([via(came_from[to]), via(jump)]),
                                            },
                                        ));
                                    }
                                }
                            }
                            // Set work counts against the same budget.
                            let new = sets.intersect(have.assigned, st.assigned, &mut work_done);
                            if new == have.assigned && !widened {
                                return Ok(());
                            }
                            have.assigned = new;
                        }
                    }
                    if !queued[to] {
                        queued[to] = true;
                        work.push(Reverse(to as u32));
                    }
                    Ok(())
                };
                if targets[i] != u32::MAX {
                    join(targets[i] as usize, &st, i as u32)?;
                }
                if ins.op.is_terminator() {
                    break;
                }
                i += 1;
                if i == n {
                    if snippet {
                        // Only the last instruction falls through to the
                        // end, so every path there brings this stack.
                        exit = Some(st.stack);
                        break;
                    }
                    return Err(fail(Some(*off), VerifyErrorKind::FallsOffEnd));
                }
                if leader[i] {
                    join(i, &st, u32::MAX)?;
                    break;
                }
            }
        }
        let mut is_target = vec![false; n];
        for &t in &targets {
            if t != u32::MAX {
                is_target[t as usize] = true;
            }
        }
        let int_locals: Vec<bool> = local_types.iter().map(|t| *t == Type::Int).collect();
        fuse::fuse(&mut code, &is_target, &int_locals, &mut self.consts);
        let mut offsets: Vec<u32> = instrs.iter().map(|(o, _)| *o).collect();
        if snippet {
            // The end of a snippet is an op of its own, at the code's end.
            code.push(Op::Halt);
            offsets.push(func.code.len() as u32);
            entry_stacks.push(exit.unwrap_or(u32::MAX));
            let exit_types = exit.map(|e| {
                stacks
                    .types(e)
                    .iter()
                    .map(|t| self.types.get(*t).clone())
                    .collect()
            });
            if let Some(sn) = &mut self.snippet {
                sn.exit = exit_types;
            }
        }
        let f = VerifiedFunc {
            start: 0,
            offsets,
            num_params: np as u32,
            num_locals: local_types.len() as u32,
            local_types,
            max_stack: max_depth as u32,
            has_result: func.ty.result.is_some(),
            entry_stacks,
            stack_nodes: stacks.nodes.iter().map(|n| (n.parent, n.ty)).collect(),
        };
        Ok((f, code))
    }

    fn stack_string(&self, stacks: &StackTable, s: u32) -> String {
        stacks
            .types(s)
            .iter()
            .map(|t| self.types.get(*t).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn callee(&self, index: u32) -> Option<(&'m str, &'m FuncType)> {
        let m = self.module;
        let i = index as usize;
        match m.funcs.get(i) {
            Some(f) => Some((&f.name, &f.ty)),
            None => m
                .imports
                .get(i - m.funcs.len())
                .map(|im| (im.name.as_str(), &im.ty)),
        }
    }
}

/// Context for typing one instruction.
struct InstrCx<'a, 'm> {
    v: &'a mut Verifier<'m>,
    stacks: &'a mut StackTable,
    st: &'a mut State,
    func: &'a FuncType,
    local_types: &'a [Type],
    local_tids: &'a [TypeId],
    ref_bit: &'a [u32],
    sets: &'a mut SetTable,
    pending: &'a mut Vec<u32>,
    pending_mark: &'a mut [bool],
    fi: usize,
    targets: &'a [u32],
    index: usize,
}

type StepResult<T> = Result<T, VerifyErrorKind>;

impl InstrCx<'_, '_> {
    fn ty(&self, id: TypeId) -> &Type {
        self.v.types.get(id)
    }

    fn intern(&mut self, ty: &Type) -> TypeId {
        self.v.types.intern(ty)
    }

    fn push(&mut self, ty: TypeId) {
        self.st.stack = self.stacks.push(self.st.stack, ty);
    }

    /// Pops `k` operands for `op`, returning them bottom first.
    fn pop_n<const K: usize>(&mut self, op: Opcode) -> StepResult<[TypeId; K]> {
        let depth = self.stacks.depth(self.st.stack);
        if depth < K {
            return Err(VerifyErrorKind::StackUnderflow {
                instr: op.mnemonic(),
                needed: K,
                found: depth,
            });
        }
        let mut out = [0; K];
        for slot in out.iter_mut().rev() {
            let node = self.stacks.nodes[self.st.stack as usize];
            *slot = node.ty;
            self.st.stack = node.parent;
        }
        Ok(out)
    }

    fn mismatch(&self, op: Opcode, expected: &str, found: &[TypeId]) -> VerifyErrorKind {
        VerifyErrorKind::TypeMismatch {
            instr: op.mnemonic(),
            expected: expected.to_owned(),
            found: found
                .iter()
                .map(|t| self.ty(*t).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn range(what: &'static str, index: u32, len: usize) -> StepResult<usize> {
        if (index as usize) < len {
            Ok(index as usize)
        } else {
            Err(VerifyErrorKind::IndexOutOfRange { what, index, len })
        }
    }

    fn elem_of_array(&mut self, op: Opcode, arr: TypeId, rest: &[TypeId]) -> StepResult<TypeId> {
        match self.ty(arr).clone() {
            Type::Array(e) => Ok(self.intern(&e)),
            _ => {
                let mut found = vec![arr];
                found.extend_from_slice(rest);
                Err(self.mismatch(op, "an array first", &found))
            }
        }
    }

    fn map_parts(
        &mut self,
        op: Opcode,
        map: TypeId,
        rest: &[TypeId],
    ) -> StepResult<(TypeId, TypeId)> {
        match self.ty(map).clone() {
            Type::Map(k, v) => Ok((self.intern(&k.to_type()), self.intern(&v))),
            _ => {
                let mut found = vec![map];
                found.extend_from_slice(rest);
                Err(self.mismatch(op, "a map first", &found))
            }
        }
    }

    /// `expected` accepts `actual`: equal, expected is any, or actual is
    /// the literal `nil` and expected is nullable (see [`Type::accepts`]).
    fn accepts(&self, expected: TypeId, actual: TypeId) -> bool {
        expected == T_ANY
            || expected == actual
            || (actual == T_NIL && self.ty(expected).is_nullable())
    }

    fn numeric(&mut self, op: Opcode, int: Op, float: Op, any: Op) -> StepResult<Op> {
        let [a, b] = self.pop_n::<2>(op)?;
        let (a, b) = (as_any(a), as_any(b));
        let (res, code) = match (a, b) {
            (T_INT, T_INT) => (T_INT, int),
            (T_FLOAT, T_FLOAT) => (T_FLOAT, float),
            (T_ANY, T_INT | T_FLOAT | T_ANY) | (T_INT | T_FLOAT, T_ANY) => (T_ANY, any),
            _ => return Err(self.mismatch(op, "int, int or float, float (or any)", &[a, b])),
        };
        self.push(res);
        Ok(code)
    }

    fn bitwise(&mut self, op: Opcode, boolean: Op, int: Op) -> StepResult<Op> {
        let [a, b] = self.pop_n::<2>(op)?;
        let code = match (a, b) {
            (T_BOOL, T_BOOL) => boolean,
            (T_INT, T_INT) => int,
            _ => return Err(self.mismatch(op, "bool, bool or int, int", &[a, b])),
        };
        self.push(a);
        Ok(code)
    }

    fn equality(&mut self, op: Opcode, bits: Op, float: Op, s: Op, any: Op) -> StepResult<Op> {
        let [a, b] = self.pop_n::<2>(op)?;
        let nullable = |t: TypeId| t == T_NIL || self.ty(t).is_nullable();
        let code = if a == T_ANY || b == T_ANY || a == T_NIL || b == T_NIL {
            // `nil` is an `any` here too: against a record or function
            // reference this compares tag and payload.
            any
        } else if a != b {
            return Err(self.mismatch(op, "two values of the same type", &[a, b]));
        } else {
            match a {
                T_FLOAT => float,
                T_STR => s,
                // Records and function references may be `nil`, whose
                // payload alone would equal object 0's: compare tags too.
                _ if nullable(a) => any,
                _ => bits,
            }
        };
        self.push(T_BOOL);
        Ok(code)
    }

    fn ordering(&mut self, op: Opcode, int: Op, float: Op, s: Op, any: Op) -> StepResult<Op> {
        let [a, b] = self.pop_n::<2>(op)?;
        let (a, b) = (as_any(a), as_any(b));
        let code = match (a, b) {
            (T_INT, T_INT) => int,
            (T_FLOAT, T_FLOAT) => float,
            (T_STR, T_STR) => s,
            (T_ANY, T_INT | T_FLOAT | T_STR | T_ANY) | (T_INT | T_FLOAT | T_STR, T_ANY) => any,
            _ => return Err(self.mismatch(op, "int, int or float, float or str, str", &[a, b])),
        };
        self.push(T_BOOL);
        Ok(code)
    }

    fn by_elem(elem: TypeId, int: Op, float: Op, val: Op) -> Op {
        match elem {
            T_INT => int,
            T_FLOAT => float,
            _ => val,
        }
    }

    fn local_name(&self, i: usize) -> String {
        self.v
            .module
            .func_debug(self.fi)
            .and_then(|d| d.local_names.get(i))
            .cloned()
            .unwrap_or_else(|| i.to_string())
    }

    fn step(&mut self, ins: &Instr) -> StepResult<Op> {
        use Opcode as O;
        let op = ins.op;
        Ok(match (&ins.operand, op) {
            (_, O::Nop) => Op::Nop,
            (Operand::Int(v), O::PushInt) => {
                self.push(T_INT);
                match i32::try_from(*v) {
                    Ok(small) => Op::PushSmallInt(small),
                    Err(_) => Op::PushConst(self.add_const(Const::Int(*v))),
                }
            }
            (Operand::Float(v), O::PushFloat) => {
                self.push(T_FLOAT);
                Op::PushConst(self.add_const(Const::Float(*v)))
            }
            (Operand::Str(i), O::PushStr) => {
                Self::range("string constant", *i, self.v.module.strings.len())?;
                self.push(T_STR);
                Op::PushStr(*i)
            }
            (Operand::Bool(b), O::PushBool) => {
                self.push(T_BOOL);
                Op::PushBool(*b)
            }
            (_, O::PushNil) => {
                self.push(T_NIL);
                Op::PushNil
            }
            (Operand::ArrayLit(lit), O::PushArray) => self.push_array(lit)?,
            (Operand::Type(t), O::Is) => self.is_type(t)?,
            (_, O::IsNil) => self.is_nil()?,
            (Operand::Func(f), O::FnRef) => self.fn_ref(*f)?,
            (_, O::CallRef) => self.call_ref()?,
            (Operand::Record(r), O::RecNew) => self.rec_new(*r)?,
            (Operand::Field(r, f), O::RecGet) => self.rec_get(*r, *f)?,
            (Operand::Field(r, f), O::RecSet) => self.rec_set(*r, *f)?,
            (_, O::Pop) => {
                self.pop_n::<1>(op)?;
                Op::Pop
            }
            (_, O::Dup) => {
                let [a] = self.pop_n::<1>(op)?;
                self.push(a);
                self.push(a);
                Op::Dup
            }
            (_, O::Swap) => {
                let [a, b] = self.pop_n::<2>(op)?;
                self.push(b);
                self.push(a);
                Op::Swap
            }
            (_, O::Over) => {
                let [a, b] = self.pop_n::<2>(op)?;
                self.push(a);
                self.push(b);
                self.push(a);
                Op::Over
            }
            (Operand::Local(l), O::Load) => {
                let i = Self::range("local", *l, self.local_types.len())?;
                let bit = self.ref_bit[i];
                if bit != u32::MAX
                    && !self.pending_mark[bit as usize]
                    && !self.sets.contains(self.st.assigned, bit)
                {
                    return Err(VerifyErrorKind::Unassigned {
                        local: self.local_name(i),
                        ty: self.local_types[i].to_string(),
                    });
                }
                self.push(self.local_tids[i]);
                Op::Load(*l)
            }
            (Operand::Local(l), O::Store) => {
                let i = Self::range("local", *l, self.local_types.len())?;
                let [a] = self.pop_n::<1>(op)?;
                if !self.accepts(self.local_tids[i], a) {
                    let expected =
                        format!("{} (local `{}`)", self.local_types[i], self.local_name(i));
                    return Err(self.mismatch(op, &expected, &[a]));
                }
                let bit = self.ref_bit[i];
                if bit != u32::MAX
                    && !self.pending_mark[bit as usize]
                    && !self.sets.contains(self.st.assigned, bit)
                {
                    self.pending_mark[bit as usize] = true;
                    self.pending.push(bit);
                }
                Op::Store(*l)
            }
            (Operand::Global(g), O::GLoad) => {
                let i = Self::range("global", *g, self.v.module.globals.len())?;
                let t = self.intern(&self.v.module.globals[i].ty.clone());
                self.push(t);
                Op::GLoad(*g)
            }
            (Operand::Global(g), O::GStore) => {
                let i = Self::range("global", *g, self.v.module.globals.len())?;
                let t = self.intern(&self.v.module.globals[i].ty.clone());
                let [a] = self.pop_n::<1>(op)?;
                if !self.accepts(t, a) {
                    let expected = format!(
                        "{} (global `{}`)",
                        self.ty(t),
                        self.v.module.globals[i].name
                    );
                    return Err(self.mismatch(op, &expected, &[a]));
                }
                Op::GStore(*g)
            }
            (_, O::Add) => self.numeric(op, Op::AddInt, Op::AddFloat, Op::AddAny)?,
            (_, O::Sub) => self.numeric(op, Op::SubInt, Op::SubFloat, Op::SubAny)?,
            (_, O::Mul) => self.numeric(op, Op::MulInt, Op::MulFloat, Op::MulAny)?,
            (_, O::Div) => self.numeric(op, Op::DivInt, Op::DivFloat, Op::DivAny)?,
            (_, O::Rem) => self.numeric(op, Op::RemInt, Op::RemFloat, Op::RemAny)?,
            (_, O::Neg) => {
                let [a] = self.pop_n::<1>(op)?;
                let a = as_any(a);
                let code = match a {
                    T_INT => Op::NegInt,
                    T_FLOAT => Op::NegFloat,
                    T_ANY => Op::NegAny,
                    _ => return Err(self.mismatch(op, "int, float or any", &[a])),
                };
                self.push(a);
                code
            }
            (_, O::And) => self.bitwise(op, Op::AndBool, Op::AndInt)?,
            (_, O::Or) => self.bitwise(op, Op::OrBool, Op::OrInt)?,
            (_, O::Xor) => self.bitwise(op, Op::XorBool, Op::XorInt)?,
            (_, O::Not) => {
                let [a] = self.pop_n::<1>(op)?;
                let code = match a {
                    T_BOOL => Op::NotBool,
                    T_INT => Op::NotInt,
                    _ => return Err(self.mismatch(op, "bool or int", &[a])),
                };
                self.push(a);
                code
            }
            (_, O::Shl | O::Shr) => {
                let [a, b] = self.pop_n::<2>(op)?;
                if (a, b) != (T_INT, T_INT) {
                    return Err(self.mismatch(op, "int, int", &[a, b]));
                }
                self.push(T_INT);
                if op == O::Shl { Op::Shl } else { Op::Shr }
            }
            (_, O::Eq) => self.equality(op, Op::EqBits, Op::EqFloat, Op::EqStr, Op::EqAny)?,
            (_, O::Ne) => self.equality(op, Op::NeBits, Op::NeFloat, Op::NeStr, Op::NeAny)?,
            (_, O::Lt) => self.ordering(op, Op::LtInt, Op::LtFloat, Op::LtStr, Op::LtAny)?,
            (_, O::Le) => self.ordering(op, Op::LeInt, Op::LeFloat, Op::LeStr, Op::LeAny)?,
            (_, O::Gt) => self.ordering(op, Op::GtInt, Op::GtFloat, Op::GtStr, Op::GtAny)?,
            (_, O::Ge) => self.ordering(op, Op::GeInt, Op::GeFloat, Op::GeStr, Op::GeAny)?,
            (_, O::IToF) => {
                let [a] = self.pop_n::<1>(op)?;
                if a != T_INT {
                    return Err(self.mismatch(op, "int", &[a]));
                }
                self.push(T_FLOAT);
                Op::IToF
            }
            (_, O::FToI) => {
                let [a] = self.pop_n::<1>(op)?;
                if a != T_FLOAT {
                    return Err(self.mismatch(op, "float", &[a]));
                }
                self.push(T_INT);
                Op::FToI
            }
            (Operand::Type(t), O::Cast) => {
                self.check_code_type(t)?;
                let target = self.intern(t);
                let [a] = self.pop_n::<1>(op)?;
                self.push(target);
                if a == target || (a == T_NIL && t.is_nullable()) {
                    Op::Nop
                } else if a == T_ANY || a == T_NIL {
                    // `nil` is an `any` to every dynamic op (as it was
                    // before it had a type of its own): the cast checks it.
                    Op::Cast(target)
                } else {
                    return Err(self.mismatch(op, "any", &[a]));
                }
            }
            (_, O::Concat) => {
                let [a, b] = self.pop_n::<2>(op)?;
                if (a, b) != (T_STR, T_STR) {
                    return Err(self.mismatch(op, "str, str", &[a, b]));
                }
                self.push(T_STR);
                Op::Concat
            }
            (_, O::ArrayNew) => {
                let [n, fill] = self.pop_n::<2>(op)?;
                if n != T_INT {
                    return Err(self.mismatch(op, "int, T", &[n, fill]));
                }
                // An array of `nil`s is an `array<any>`.
                let fill = if fill == T_NIL { T_ANY } else { fill };
                let elem = self.ty(fill).clone();
                let arr = self.intern(&Type::array(elem));
                self.push(arr);
                Self::by_elem(
                    fill,
                    Op::ArrayNewInt,
                    Op::ArrayNewFloat,
                    Op::ArrayNewVal(fill),
                )
            }
            (_, O::ArrayGet) => {
                let [a, i] = self.pop_n::<2>(op)?;
                let e = self.elem_of_array(op, a, &[i])?;
                if i != T_INT {
                    return Err(self.mismatch(op, "array<T>, int", &[a, i]));
                }
                self.push(e);
                Self::by_elem(e, Op::ArrayGetInt, Op::ArrayGetFloat, Op::ArrayGetVal)
            }
            (_, O::ArraySet) => {
                let [a, i, x] = self.pop_n::<3>(op)?;
                let e = self.elem_of_array(op, a, &[i, x])?;
                if i != T_INT || !self.accepts(e, x) {
                    let expected = format!("{}, int, {}", self.ty(a), self.ty(e));
                    return Err(self.mismatch(op, &expected, &[a, i, x]));
                }
                Self::by_elem(e, Op::ArraySetInt, Op::ArraySetFloat, Op::ArraySetVal)
            }
            (_, O::ArrayLen) => {
                let [a] = self.pop_n::<1>(op)?;
                self.elem_of_array(op, a, &[])?;
                self.push(T_INT);
                Op::ArrayLen
            }
            (_, O::ArrayPush) => {
                let [a, x] = self.pop_n::<2>(op)?;
                let e = self.elem_of_array(op, a, &[x])?;
                if !self.accepts(e, x) {
                    let expected = format!("{}, {}", self.ty(a), self.ty(e));
                    return Err(self.mismatch(op, &expected, &[a, x]));
                }
                Self::by_elem(e, Op::ArrayPushInt, Op::ArrayPushFloat, Op::ArrayPushVal)
            }
            (_, O::ArrayPop) => {
                let [a] = self.pop_n::<1>(op)?;
                let e = self.elem_of_array(op, a, &[])?;
                self.push(e);
                Self::by_elem(e, Op::ArrayPopInt, Op::ArrayPopFloat, Op::ArrayPopVal)
            }
            (Operand::MapTypes(k, v), O::MapNew) => {
                self.check_code_type(v)?;
                let t = self.intern(&Type::map(*k, v.clone()));
                self.push(t);
                Op::MapNew(t)
            }
            (_, O::MapGet | O::MapHas | O::MapDel) => {
                let [m, k] = self.pop_n::<2>(op)?;
                let (kt, vt) = self.map_parts(op, m, &[k])?;
                if k != kt {
                    let expected = format!("{}, {}", self.ty(m), self.ty(kt));
                    return Err(self.mismatch(op, &expected, &[m, k]));
                }
                match op {
                    O::MapGet => {
                        self.push(vt);
                        Op::MapGet
                    }
                    O::MapHas => {
                        self.push(T_BOOL);
                        Op::MapHas
                    }
                    _ => Op::MapDel,
                }
            }
            (_, O::MapGetOr | O::MapSet) => {
                let [m, k, x] = self.pop_n::<3>(op)?;
                let (kt, vt) = self.map_parts(op, m, &[k, x])?;
                if k != kt || !self.accepts(vt, x) {
                    let expected = format!("{}, {}, {}", self.ty(m), self.ty(kt), self.ty(vt));
                    return Err(self.mismatch(op, &expected, &[m, k, x]));
                }
                if op == O::MapGetOr {
                    self.push(vt);
                    Op::MapGetOr
                } else {
                    Op::MapSet
                }
            }
            (_, O::MapLen) => {
                let [m] = self.pop_n::<1>(op)?;
                self.map_parts(op, m, &[])?;
                self.push(T_INT);
                Op::MapLen
            }
            (_, O::MapKeys) => {
                let [m] = self.pop_n::<1>(op)?;
                let (kt, _) = self.map_parts(op, m, &[])?;
                let key = self.ty(kt).clone();
                let arr = self.intern(&Type::array(key));
                self.push(arr);
                Op::MapKeys
            }
            (Operand::Target(_), O::Jmp) => Op::Jmp(self.targets[self.index]),
            (Operand::Target(_), O::JmpIf | O::JmpIfNot) => {
                let [c] = self.pop_n::<1>(op)?;
                if c != T_BOOL {
                    return Err(self.mismatch(op, "bool", &[c]));
                }
                let t = self.targets[self.index];
                if op == O::JmpIf {
                    Op::JmpIf(t)
                } else {
                    Op::JmpIfNot(t)
                }
            }
            (Operand::Func(f), O::Call) => self.call(*f)?,
            (_, O::Ret) if self.v.is_snippet(self.fi) => {
                return Err(VerifyErrorKind::Snippet(
                    "`ret` cannot end a REPL line: a line ends where its code ends".into(),
                ));
            }
            (_, O::Ret) => {
                // At most two slots are read on success, so `ret` costs
                // O(1) whatever the depth; only the error (reported once
                // per function) lists the whole stack.
                let found = self.stacks.top(self.st.stack, 2);
                let ok = match &self.func.result {
                    None => found.is_empty(),
                    Some(r) => {
                        let rid = self.v.types.intern(r);
                        found.len() == 1 && self.accepts(rid, found[0])
                    }
                };
                if !ok {
                    return Err(VerifyErrorKind::BadReturn {
                        expected: self
                            .func
                            .result
                            .as_ref()
                            .map(Type::to_string)
                            .unwrap_or_default(),
                        found: self.v.stack_string(self.stacks, self.st.stack),
                    });
                }
                // MAX_LOCALS keeps the count within u16.
                let rec = self.local_types.len() as u16;
                if self.func.result.is_some() {
                    Op::RetVal(rec)
                } else {
                    Op::Ret(rec)
                }
            }
            (Operand::Str(i), O::Trap) => {
                Self::range("string constant", *i, self.v.module.strings.len())?;
                Op::Trap(*i)
            }
            // The decoder builds operands from the opcode's kind, so no other
            // combination can reach here; treat one as undecodable anyway.
            (operand, _) => {
                return Err(VerifyErrorKind::Decode(format!(
                    "operand {operand:?} does not fit `{}`",
                    op.mnemonic()
                )));
            }
        })
    }

    fn add_const(&mut self, c: Const) -> u32 {
        add_const(&mut self.v.consts, c)
    }

    fn call(&mut self, index: u32) -> StepResult<Op> {
        let m = self.v.module;
        let total = m.funcs.len() + m.imports.len();
        Self::range("function", index, total)?;
        if self.v.is_snippet(index as usize) {
            return Err(VerifyErrorKind::Snippet(
                "the REPL line's own function cannot be called".into(),
            ));
        }
        let (name, sig) = self.v.callee(index).expect("index checked above");
        let np = sig.params.len();
        // Only the top `np` slots are read: the cost of a call is its
        // argument count, not the stack depth.
        let args = self.stacks.top(self.st.stack, np);
        let arg_types: Vec<&Type> = args.iter().map(|a| self.v.types.get(*a)).collect();
        let binds = unify::match_args(&sig.params, &arg_types);
        let Some(binds) = binds else {
            return Err(VerifyErrorKind::CallMismatch {
                callee: name.to_owned(),
                expected: sig
                    .params
                    .iter()
                    .map(Type::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                found: args
                    .iter()
                    .map(|t| self.ty(*t).to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        for _ in 0..np {
            self.st.stack = self.stacks.nodes[self.st.stack as usize].parent;
        }
        let mut ret = u16::MAX;
        if let Some(r) = &sig.result {
            let r = unify::substitute(r, &binds);
            let rid = self.intern(&r);
            self.push(rid);
            ret = u16::try_from(rid).ok().filter(|r| *r != u16::MAX).ok_or(
                VerifyErrorKind::LimitExceeded {
                    what: "number of distinct types",
                    limit: u16::MAX as usize - 1,
                },
            )?;
        }
        let nf = m.funcs.len() as u32;
        if index < nf {
            return Ok(Op::Call(index));
        }
        let import = u16::try_from(index - nf).map_err(|_| VerifyErrorKind::LimitExceeded {
            what: "number of imports",
            limit: u16::MAX as usize + 1,
        })?;
        Ok(Op::CallImport { import, ret })
    }
}

#[cfg(test)]
mod tests;

/// How a stack mismatch names the jump at instruction `jump` of function
/// `fi`: ` from the jmp at 14:5` (its source position), or ` from the jmp
/// at offset 9` without debug info; empty for `u32::MAX` (a fall-through
/// or the function's entry).
fn jump_via(m: &Module, fi: usize, instrs: &[(u32, Instr)], jump: u32) -> String {
    let Some((off, ins)) = instrs.get(jump as usize) else {
        return String::new();
    };
    let mnemonic = ins.op.mnemonic();
    match m.func_debug(fi).and_then(|d| d.pos_at(*off)) {
        Some(p) => format!(" from the {mnemonic} at {}:{}", p.line, p.col),
        None => format!(" from the {mnemonic} at offset {off}"),
    }
}

/// The index of constant `c` in `consts`, added if it is not among the
/// last ones. Constants are few; a linear scan keeps identical literals
/// shared without hashing floats. Bounded by scanning only the last 64.
fn add_const(consts: &mut Vec<Const>, c: Const) -> u32 {
    let start = consts.len().saturating_sub(64);
    if let Some(i) = consts[start..].iter().position(|x| match (x, &c) {
        (Const::Float(a), Const::Float(b)) => a.to_bits() == b.to_bits(),
        (a, b) => a == b,
    }) {
        return (start + i) as u32;
    }
    consts.push(c);
    (consts.len() - 1) as u32
}
