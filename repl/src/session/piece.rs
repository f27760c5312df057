//! Assembling one input alone and fitting it into the session's module.
//!
//! An input (definitions, or a code line wrapped in the snippet function)
//! is assembled as a small module of its own: it declares only the
//! session globals its text names, and calls to session functions and
//! imports resolve through [`Resolver`] (so they become imports of the
//! small module). [`fit`] then renumbers its strings, globals, callees and
//! records into the session module's index spaces and re-encodes its code, so the
//! VM can verify and install just these functions
//! ([`keel_vm::Instance::edit_module`]). The cost is that of the input, not
//! of the session.
//!
//! The session module's layout: `cap` function slots (user functions in
//! definition order, then placeholders), the snippet at index `cap`, then
//! the imports. Function indices therefore never move while slots remain;
//! [`grow`] doubles the slots (renumbering import calls everywhere), which
//! happens a logarithmic number of times.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use keel_assembler::Signatures;
use keel_assembler::lexer::{Tok, lex};
use keel_vm::internals::isa::{self, ArrayLit, Instr, Opcode, Operand};
use keel_vm::{Func, FuncDebug, FuncType, Linker, Module, Pos, RecordDef};

/// A session function: its slot and signature.
#[derive(Clone, Debug)]
pub struct FuncInfo {
    pub slot: usize,
    pub ty: FuncType,
    /// The signature as the REPL prints it, with parameter names.
    pub sig: String,
}

/// What calls resolve against while assembling an input: the session's
/// functions, then its imports, then the library.
pub struct Resolver<'a> {
    pub funcs: &'a IndexMap<String, FuncInfo>,
    pub imports: &'a IndexMap<String, FuncType>,
    pub catalog: &'a Linker,
}

impl Signatures for Resolver<'_> {
    fn signature(&self, name: &str) -> Option<FuncType> {
        self.funcs
            .get(name)
            .map(|f| f.ty.clone())
            .or_else(|| self.imports.get(name).cloned())
            .or_else(|| self.catalog.signature(name).cloned())
    }

    fn names(&self, each: &mut dyn FnMut(&str)) {
        for name in self.funcs.keys().chain(self.imports.keys()) {
            each(name);
        }
        self.catalog.names(each);
    }
}

/// The session globals an input's text refers to, as `.global` lines to
/// append to it: every name the text uses that is a live session global
/// not defined by the input itself. If the text names a global by index
/// (`gload 3`), every global is declared, in order, so indices mean what
/// they mean in the session module.
pub fn global_declarations(
    src: &str,
    live: &HashMap<String, usize>,
    globals: &[super::Slot],
    defined: &[&str],
) -> Vec<String> {
    let toks: Vec<Tok<'_>> = lex(src).filter_map(Result::ok).map(|(_, t, _)| t).collect();
    let by_index = toks
        .windows(2)
        .any(|w| matches!(w, [Tok::Ident("gload" | "gstore"), Tok::Int(_)]));
    if by_index {
        return globals
            .iter()
            .map(|g| format!(".global {}: {}", g.name, g.ty))
            .collect();
    }
    let mut seen: Vec<usize> = Vec::new();
    for t in toks {
        if let Tok::Ident(name) = t
            && let Some(&i) = live.get(name)
            && !defined.contains(&name)
            && !seen.contains(&i)
        {
            seen.push(i);
        }
    }
    seen.into_iter()
        .map(|i| format!(".global {}: {}", globals[i].name, globals[i].ty))
        .collect()
}

/// The session records an input's text names, as `.record` lines to
/// append to it: every record whose name the text uses as a word (a type,
/// or the record part of `Record.field`), and the records their fields
/// name, transitively, in the session's order. A record the text itself
/// declares is not repeated (the input's declaration must then be
/// identical: `fit` checks).
pub fn record_declarations(src: &str, records: &IndexMap<String, RecordDef>) -> Vec<String> {
    if records.is_empty() {
        return Vec::new();
    }
    let mut declared = HashSet::new();
    let mut wanted: Vec<usize> = Vec::new();
    let mut toks = lex(src)
        .filter_map(Result::ok)
        .map(|(_, t, _)| t)
        .peekable();
    while let Some(t) = toks.next() {
        match t {
            Tok::DRecord => {
                if let Some(Tok::Ident(n)) = toks.peek() {
                    declared.insert(*n);
                }
            }
            Tok::Ident(word) => {
                let head = word.split('.').next().unwrap_or(word);
                if let Some(i) = records.get_index_of(head) {
                    wanted.push(i);
                }
            }
            _ => {}
        }
    }
    let mut seen = vec![false; records.len()];
    while let Some(i) = wanted.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for (_, ty) in &records[i].fields {
            ty.for_each_record(&mut |n| {
                if let Some(j) = records.get_index_of(n) {
                    wanted.push(j);
                }
            });
        }
    }
    records
        .values()
        .zip(seen)
        .filter(|(r, seen)| *seen && !declared.contains(r.name.as_str()))
        .map(|(r, _)| {
            let fields: Vec<String> = r.fields.iter().map(|(n, t)| format!("{n}: {t}")).collect();
            format!(".record {} {} .end", r.name, fields.join("  "))
        })
        .collect()
}

/// How a small module's indices map into the session module's.
pub struct Renumbering {
    pub strings: Vec<u32>,
    pub globals: Vec<u32>,
    /// Callee indices: the small module's functions, then its imports.
    pub callees: Vec<u32>,
    /// Record indices (field indices are the same: a session's records
    /// never change).
    pub records: Vec<u32>,
}

/// `lit` with its string constants renumbered by `strings`.
pub fn renumber_array(lit: &ArrayLit, strings: &[u32]) -> ArrayLit {
    match lit {
        ArrayLit::Str(v) => ArrayLit::Str(
            v.iter()
                .map(|i| strings.get(*i as usize).copied().unwrap_or(*i))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Re-encodes `f` with every string, global and callee operand renumbered
/// by `map`, fixing jump targets and the debug offsets for any change in
/// encoded length, and moving debug lines by `line_base` (where the input's
/// text starts in the session's text).
///
/// # Errors
///
/// The decoding error of a malformed function (not from the assembler).
pub fn recode(
    f: &Func,
    debug: &FuncDebug,
    map: &dyn Fn(&Operand) -> Operand,
    line_base: u32,
) -> Result<(Func, FuncDebug), String> {
    let instrs = isa::decode_code(&f.code, 0).map_err(|e| format!("error: {e}\n"))?;
    let mapped: Vec<Instr> = instrs
        .iter()
        .map(|(_, ins)| Instr {
            op: ins.op,
            operand: map(&ins.operand),
        })
        .collect();
    // New offsets: the targets are fixed-width, so lengths depend only on
    // the renumbered indices.
    let mut new_at: HashMap<u32, u32> = HashMap::with_capacity(instrs.len() + 1);
    let mut at = 0u32;
    for ((old, _), ins) in instrs.iter().zip(&mapped) {
        new_at.insert(*old, at);
        at += ins.encoded_len() as u32;
    }
    new_at.insert(f.code.len() as u32, at);
    let moved = |o: u32| new_at.get(&o).copied().unwrap_or(o);
    let mut code = Vec::with_capacity(at as usize);
    for mut ins in mapped {
        if let Operand::Target(t) = ins.operand {
            ins.operand = Operand::Target(moved(t));
        }
        ins.encode(&mut code);
    }
    let line = |p: Pos| Pos {
        line: p.line + line_base,
        col: p.col,
    };
    let debug = FuncDebug {
        pos: line(debug.pos),
        local_names: debug.local_names.clone(),
        labels: debug
            .labels
            .iter()
            .map(|(o, n)| (moved(*o), n.clone()))
            .collect(),
        lines: debug
            .lines
            .iter()
            .map(|(o, p)| (moved(*o), line(*p)))
            .collect(),
    };
    Ok((
        Func {
            name: f.name.clone(),
            ty: f.ty.clone(),
            locals: f.locals.clone(),
            exported: f.exported,
            code,
        },
        debug,
    ))
}

/// The operand renumbering of `r`.
pub fn renumber(r: &Renumbering) -> impl Fn(&Operand) -> Operand + '_ {
    |op: &Operand| {
        let get = |v: &[u32], i: u32| v.get(i as usize).copied().unwrap_or(i);
        match op {
            Operand::Str(i) => Operand::Str(get(&r.strings, *i)),
            Operand::Global(i) => Operand::Global(get(&r.globals, *i)),
            Operand::Func(i) => Operand::Func(get(&r.callees, *i)),
            Operand::Record(i) => Operand::Record(get(&r.records, *i)),
            Operand::Field(i, f) => Operand::Field(get(&r.records, *i), *f),
            Operand::ArrayLit(lit) => Operand::ArrayLit(renumber_array(lit, &r.strings)),
            other => other.clone(),
        }
    }
}

/// A placeholder for a free function slot: verifies, never runs.
pub fn placeholder(k: usize) -> (Func, FuncDebug) {
    let mut code = Vec::new();
    Instr::simple(Opcode::Ret).encode(&mut code);
    (
        Func {
            name: format!("{}free_{k}", super::RESERVED),
            ty: FuncType::new(Vec::new(), None),
            locals: Vec::new(),
            exported: false,
            code,
        },
        FuncDebug::default(),
    )
}

/// The snippet function with no code (a `nop`).
pub fn empty_snippet() -> (Func, FuncDebug) {
    let mut code = Vec::new();
    Instr::simple(Opcode::Nop).encode(&mut code);
    (
        Func {
            name: super::text::LINE_FUNC.into(),
            ty: FuncType::new(Vec::new(), None),
            locals: Vec::new(),
            exported: false,
            code,
        },
        FuncDebug::default(),
    )
}

/// `module` with `cap` function slots instead of its current ones: new
/// placeholders after the used slots, the snippet after them, and every
/// call of an import renumbered to match.
///
/// # Errors
///
/// As [`recode`].
pub fn grow(module: &Module, old_cap: usize, cap: usize) -> Result<Module, String> {
    let delta = (cap - old_cap) as u32;
    let map = |op: &Operand| match op {
        Operand::Func(i) if *i as usize > old_cap => Operand::Func(i + delta),
        other => other.clone(),
    };
    let debug = module.debug.clone().unwrap_or_default();
    let mut funcs = Vec::with_capacity(cap + 1);
    let mut debugs = Vec::with_capacity(cap + 1);
    for (i, f) in module.funcs.iter().enumerate().take(old_cap) {
        let d = debug.funcs.get(i).cloned().unwrap_or_default();
        let (f, d) = recode(f, &d, &map, 0)?;
        funcs.push(f);
        debugs.push(d);
    }
    for k in old_cap..cap {
        let (f, d) = placeholder(k);
        funcs.push(f);
        debugs.push(d);
    }
    let (f, d) = empty_snippet();
    funcs.push(f);
    debugs.push(d);
    Ok(Module {
        funcs,
        debug: Some(keel_vm::DebugInfo {
            file: debug.file,
            funcs: debugs,
        }),
        ..module.clone()
    })
}
