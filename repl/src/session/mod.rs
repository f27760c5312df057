//! A REPL session: definitions, session locals and a persistent operand
//! stack over one long-lived instance.
//!
//! Every input compiles to a whole module: the session's globals, imports
//! and functions (as the user wrote them), then a snippet function
//! ([`text::LINE_FUNC`]) that declares the session locals, loads them from
//! hidden globals, runs the input line, and stores them back. The verifier
//! checks the snippet against the types of the current stack
//! ([`keel_vm::verify_snippet`]) and the instance switches to the new module
//! ([`keel_vm::Instance::replace_module`]), keeping its heap and globals.
//!
//! Invariants:
//! - The module's globals only grow: a redefined global or a retyped local
//!   leaves its old slot behind under a dead name, so the instance's
//!   globals are always a prefix of the next module's.
//! - Nothing the user sees changes until an input has fully succeeded: the
//!   candidate definitions, locals and stack are committed only after
//!   assembly, verification, linking and the run. (New global slots are
//!   committed once linked; an uncommitted one is never referenced again.)
//! - Stack values are held by handles, so they survive collections between
//!   and during lines.

mod items;
mod piece;
pub mod text;

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use keel_vm::internals::isa::{Opcode, Operand};
use keel_vm::{
    Config, EditError, ExecStats, FuncType, Handle, Instance, InterruptHandle, Linker, Module,
    ModuleEdit, RecordDef, Type,
};

use items::{Def, split, take_locals};
pub use items::{InputKind, kind, needs_more, pieces};
use keel_assembler::lexer::{Tok, lex};
use piece::FuncInfo;
use text::{Chunk, LINE_FUNC, ModuleText};

/// The file name of typed input.
pub const REPL_FILE: &str = "<repl>";
/// Names starting with this belong to the session's generated code.
const RESERVED: &str = "__repl_";
/// Longest display of one stack value in the stack line (`:stack` shows
/// values whole).
const SHOWN_CHARS: usize = 120;
/// Longest display of one value in `:stack` (a value sharing its children
/// can have a display form far larger than the heap).
const STACK_VALUE_BYTES: usize = 1 << 20;

/// The commands, with their help lines (`:help` and completion use them).
pub const COMMANDS: &[(&str, &str)] = &[
    (
        ":help",
        ":help [NAME]  instructions, library functions and commands",
    ),
    (
        ":stack",
        ":stack        the stack, one value per line, in full",
    ),
    (":clear", ":clear        empty the stack"),
    (
        ":dis",
        ":dis NAME     disassemble a function of the session",
    ),
    (
        ":load",
        ":load FILE    bring a .kasm file's functions and globals in",
    ),
    (
        ":reset",
        ":reset        forget every definition, local and stack value",
    ),
    (
        ":gc",
        ":gc           collect garbage and show heap statistics",
    ),
    (":time", ":time         toggle timing of each line"),
    (":quit", ":quit         leave (also Ctrl-D)"),
];

/// What an input asks of the shell.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Print this (may be empty) and read on.
    Show(String),
    /// Leave the session.
    Quit,
}

/// A global slot of the session's module.
#[derive(Clone)]
struct Slot {
    /// Its name in the module: the user's, a hidden one, or a dead one.
    name: String,
    ty: Type,
    /// Whether the user defined it (`.global`); hidden slots are not.
    user: bool,
}

#[derive(Clone)]
struct Local {
    ty: Type,
    /// The hidden global that keeps its value between lines.
    slot: String,
}

struct Entry {
    value: Handle,
    ty: Type,
}

/// Function slots a new session starts with (doubled when they run out).
const INITIAL_SLOTS: usize = 16;

/// Everything a session holds.
pub struct Session {
    catalog: Linker,
    linker: Linker,
    config: Config,
    /// The module's globals, in order.
    slots: Vec<Slot>,
    /// Live global names (user globals and hidden slots) to indices.
    live: HashMap<String, usize>,
    /// The module's imports, in order.
    imports: IndexMap<String, FuncType>,
    /// The user's functions, in definition order.
    funcs: IndexMap<String, FuncInfo>,
    /// The session's record types, in definition order (their indices). A
    /// record never changes once defined: values of it may exist.
    records: IndexMap<String, RecordDef>,
    /// Function slots; the snippet is function `cap`.
    cap: usize,
    /// The module's string constants.
    strings: HashMap<String, u32>,
    locals: IndexMap<String, Local>,
    stack: Vec<Entry>,
    /// Every input's text, where the module's debug lines point.
    text: ModuleText,
    instance: Instance,
    next_id: usize,
    timing: bool,
    limits: LineLimits,
    /// The `--stats` report of the last line run, until taken.
    line_stats: Option<String>,
    /// For each global slot, the user functions whose code may name it (a
    /// superset: a function redefined since may no longer), so redefining
    /// a global relinks its users without scanning every function.
    global_users: HashMap<u32, HashSet<String>>,
}

/// The limits each code line runs under (`vmrun repl --fuel --timeout
/// --stats`): every line gets the whole budget.
#[derive(Clone, Default)]
pub struct LineLimits {
    pub fuel: Option<u64>,
    /// The limit and how the user wrote it.
    pub timeout: Option<(Duration, String)>,
    pub stats: bool,
}

/// Interrupts a run when its time is up, unless dropped first.
struct Watchdog {
    done: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(handle: InterruptHandle, limit: Duration, reason: String) -> Watchdog {
        let done = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*flag;
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = cv
                .wait_timeout_while(guard, limit, |finished| !*finished)
                .unwrap_or_else(|p| p.into_inner());
            if !*guard {
                handle.interrupt_with(reason);
            }
        });
        Watchdog {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A global an input defines.
struct NewGlobal {
    name: String,
    user: bool,
}

/// What an applied input changed in the session's bookkeeping.
struct Fitted {
    edit: ModuleEdit,
    strings: Vec<String>,
    globals: Vec<Slot>,
    /// Old slots of redefined globals, with their dead names.
    renamed: Vec<(usize, String)>,
    imports: Vec<(String, FuncType)>,
    /// Records appended.
    records: Vec<RecordDef>,
    /// Functions defined, with the slots they take.
    funcs: Vec<(String, FuncInfo)>,
    /// User functions this edit installs, with the globals their code names.
    global_uses: Vec<(String, Vec<u32>)>,
}

impl Session {
    /// A new session. `catalog` gives the signatures calls resolve against;
    /// `linker` the functions instances get (the granted subset).
    ///
    /// # Errors
    ///
    /// When even the empty module cannot be set up (a heap limit too small
    /// for anything).
    pub fn new(catalog: Linker, linker: Linker, config: Config) -> Result<Session, String> {
        let empty = Module {
            debug: Some(keel_vm::DebugInfo {
                file: REPL_FILE.into(),
                funcs: Vec::new(),
            }),
            ..Module::default()
        };
        let module = piece::grow(&empty, 0, INITIAL_SLOTS)?;
        let verified = keel_vm::verify_snippet(module, INITIAL_SLOTS, &[])
            .map_err(|e| ModuleText::default().render_verify(&e))?;
        let instance = Instance::new(Arc::new(verified), &linker, config.clone())
            .map_err(|e| link_errors(&e))?;
        Ok(Session {
            catalog,
            linker,
            config,
            slots: Vec::new(),
            live: HashMap::new(),
            imports: IndexMap::new(),
            funcs: IndexMap::new(),
            records: IndexMap::new(),
            cap: INITIAL_SLOTS,
            strings: HashMap::new(),
            locals: IndexMap::new(),
            stack: Vec::new(),
            text: ModuleText::default(),
            instance,
            next_id: 0,
            timing: false,
            limits: LineLimits::default(),
            line_stats: None,
            global_users: HashMap::new(),
        })
    }

    /// Sets the limits every code line runs under (kept by `:reset`).
    pub fn set_limits(&mut self, limits: LineLimits) {
        self.limits = limits;
    }

    /// The `--stats` report of the line last run, once.
    pub fn take_stats(&mut self) -> Option<String> {
        self.line_stats.take()
    }

    /// Interrupts the running line from another thread (Ctrl-C).
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.instance.interrupt_handle()
    }

    /// Names for completion: defined functions, globals and locals.
    pub fn names(&self) -> Vec<String> {
        self.funcs
            .keys()
            .cloned()
            .chain(self.slots.iter().filter(|s| s.user).map(|s| s.name.clone()))
            .chain(self.locals.keys().cloned())
            .chain(self.records.keys().cloned())
            .collect()
    }

    /// Evaluates one input whose first line is line `line` of the session.
    ///
    /// # Errors
    ///
    /// The rendered error (assembly, verification, link or trap); the
    /// session is then as it was before the input.
    pub fn eval(&mut self, input: &str, line: u32) -> Result<Reply, String> {
        let chunk = Chunk {
            file: REPL_FILE.into(),
            line,
            text: input.trim_end_matches(['\n', '\r']).to_owned(),
        };
        match input.trim() {
            "exit" | "quit" => {
                return Ok(Reply::Show(
                    "`:quit` or Ctrl-D leaves the REPL (`exit` and `quit` are not instructions)\n"
                        .into(),
                ));
            }
            "help" => {
                return Ok(Reply::Show(
                    "`:help` lists instructions and commands; `:help NAME` shows one\n".into(),
                ));
            }
            _ => {}
        }
        match kind(input) {
            InputKind::Blank => Ok(Reply::Show(String::new())),
            InputKind::Command => self.command(input.trim()),
            InputKind::Definitions => {
                let items = split(&chunk.file, chunk.line, &chunk.text)?;
                self.define(items).map(Reply::Show)
            }
            InputKind::Code => self.run_line(&chunk).map(Reply::Show),
        }
    }

    /// The stack as the REPL shows it after each line:
    /// `[3: int, "hi": str]`, bottom first.
    pub fn stack_line(&self) -> String {
        let items: Vec<String> = self
            .stack
            .iter()
            .map(|e| {
                // Only a prefix is built: a value sharing its children can
                // have a display form far larger than the heap.
                let (mut shown, cut) = self.instance.repr_prefix(e.value.value(), SHOWN_CHARS * 4);
                if cut || shown.chars().count() > SHOWN_CHARS {
                    shown = shown.chars().take(SHOWN_CHARS).collect::<String>() + "...";
                }
                format!("{shown}: {}", stack_type(&e.ty))
            })
            .collect();
        format!("[{}]", items.join(", "))
    }

    fn fresh(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{RESERVED}{what}_{}", self.next_id)
    }

    fn entry_types(&self) -> Vec<Type> {
        self.stack.iter().map(|e| e.ty.clone()).collect()
    }

    /// Assembles input text `t` alone (the snippet function `line_func`
    /// gets the REPL's literal pushes), after declaring the session globals
    /// it names. `defined` are the globals the input defines, in order.
    fn assemble(
        &self,
        t: &mut ModuleText,
        defined: &[NewGlobal],
        line_func: Option<&str>,
    ) -> Result<Module, String> {
        let names: Vec<&str> = defined.iter().map(|g| g.name.as_str()).collect();
        for decl in piece::global_declarations(&t.src, &self.live, &self.slots, &names) {
            t.generated(&decl);
        }
        // After the globals: their types may name records.
        for decl in piece::record_declarations(&t.src, &self.records) {
            t.generated(&decl);
        }
        let resolver = piece::Resolver {
            funcs: &self.funcs,
            imports: &self.imports,
            catalog: &self.catalog,
        };
        let assembled = match line_func {
            Some(f) => {
                keel_assembler::assemble_with_literal_pushes(&t.src, REPL_FILE, &resolver, f)
            }
            None => keel_assembler::assemble(&t.src, REPL_FILE, &resolver),
        };
        assembled.map_err(|errors| {
            errors
                .iter()
                .map(|e| t.render_offset(e.span.start, &e.to_string()))
                .collect::<String>()
        })
    }

    /// Doubles the function slots until `needed` fit (see [`piece`]).
    fn grow(&mut self, needed: usize) -> Result<(), String> {
        let mut cap = self.cap;
        while cap < needed {
            cap *= 2;
        }
        let module = piece::grow(self.instance.module().module(), self.cap, cap)?;
        let verified = keel_vm::verify_snippet(module, cap, &self.entry_types())
            .map_err(|e| self.text.render_verify(&e))?;
        self.instance
            .replace_module(Arc::new(verified), &self.linker)
            .map_err(|e| link_errors(&e))?;
        self.cap = cap;
        Ok(())
    }

    /// Fits the small module `m` (assembled from text at line `base` of the
    /// session's text) into the session module: the edit that installs it,
    /// and the bookkeeping to commit once it is installed. `snippet` is
    /// whether `m`'s one function is the line.
    fn fit(
        &mut self,
        m: &Module,
        base: u32,
        defined: &[NewGlobal],
        snippet: bool,
    ) -> Result<Fitted, String> {
        if !snippet {
            let new = m
                .funcs
                .iter()
                .filter(|f| !self.funcs.contains_key(&f.name))
                .count();
            if self.funcs.len() + new > self.cap {
                self.grow(self.funcs.len() + new)?;
            }
        }
        let mut fitted = Fitted {
            edit: ModuleEdit::default(),
            strings: Vec::new(),
            globals: Vec::new(),
            renamed: Vec::new(),
            imports: Vec::new(),
            records: Vec::new(),
            funcs: Vec::new(),
            global_uses: Vec::new(),
        };
        // Records by name: the session's (a declaration the input repeats
        // must be identical), then new ones appended.
        let mut records = Vec::with_capacity(m.records.len());
        for r in &m.records {
            let i = match self.records.get_full(&r.name) {
                Some((i, _, old)) if old == r => i,
                Some((_, _, old)) => return Err(record_changed(old, r)),
                None => {
                    fitted.records.push(r.clone());
                    fitted.edit.records.push(r.clone());
                    self.records.len() + fitted.records.len() - 1
                }
            };
            records.push(i as u32);
        }
        let mut pool: HashMap<&str, u32> = HashMap::new();
        let mut strings = Vec::with_capacity(m.strings.len());
        for s in &m.strings {
            let i = match self.strings.get(s).or_else(|| pool.get(s.as_str())) {
                Some(&i) => i,
                None => {
                    let i = (self.strings.len() + fitted.strings.len()) as u32;
                    pool.insert(s, i);
                    fitted.strings.push(s.clone());
                    i
                }
            };
            strings.push(i);
        }
        let mut globals = Vec::with_capacity(m.globals.len());
        let by_name: HashMap<&str, &NewGlobal> =
            defined.iter().map(|d| (d.name.as_str(), d)).collect();
        for g in &m.globals {
            let i = match by_name.get(g.name.as_str()) {
                Some(d) => {
                    if let Some(&old) = self.live.get(&g.name) {
                        let dead = self.fresh("dead");
                        fitted.renamed.push((old, dead));
                    }
                    let i = self.slots.len() + fitted.globals.len();
                    fitted.globals.push(Slot {
                        name: g.name.clone(),
                        ty: g.ty.clone(),
                        user: d.user,
                    });
                    let init = match g.init {
                        keel_vm::GlobalInit::Str(s) => {
                            keel_vm::GlobalInit::Str(strings.get(s as usize).copied().unwrap_or(s))
                        }
                        keel_vm::GlobalInit::Array(ref lit) => {
                            keel_vm::GlobalInit::Array(piece::renumber_array(lit, &strings))
                        }
                        ref other => other.clone(),
                    };
                    fitted.edit.globals.push(keel_vm::Global {
                        name: g.name.clone(),
                        ty: g.ty.clone(),
                        init,
                    });
                    i
                }
                None => self.live.get(&g.name).copied().unwrap_or(usize::MAX),
            };
            globals.push(i as u32);
        }
        let snippet_index = self.cap;
        let mut callees = Vec::with_capacity(m.funcs.len() + m.imports.len());
        let mut next_slot = self.funcs.len();
        for f in &m.funcs {
            let slot = if snippet {
                snippet_index
            } else if let Some(info) = self.funcs.get(&f.name) {
                info.slot
            } else {
                next_slot += 1;
                next_slot - 1
            };
            callees.push(slot as u32);
        }
        let import_base = self.cap + 1;
        for im in &m.imports {
            let callee = if let Some(info) = self.funcs.get(&im.name) {
                info.slot
            } else if let Some((i, _, ty)) = self.imports.get_full(&im.name) {
                if *ty != im.ty {
                    return Err(link_errors(&[keel_vm::LinkError::SignatureMismatch {
                        name: im.name.clone(),
                        expected: im.ty.to_string(),
                        found: ty.to_string(),
                    }]));
                }
                import_base + i
            } else {
                fitted.imports.push((im.name.clone(), im.ty.clone()));
                fitted.edit.imports.push(im.clone());
                import_base + self.imports.len() + fitted.imports.len() - 1
            };
            callees.push(callee as u32);
        }
        let numbers = piece::Renumbering {
            strings,
            globals,
            callees,
            records,
        };
        let map = piece::renumber(&numbers);
        let debug = m.debug.clone().unwrap_or_default();
        for (j, f) in m.funcs.iter().enumerate() {
            let d = debug.funcs.get(j).cloned().unwrap_or_default();
            let (mut func, d) = piece::recode(f, &d, &map, base)?;
            let slot = numbers.callees[j] as usize;
            if !snippet {
                fitted
                    .global_uses
                    .push((f.name.clone(), globals_named(&func.code)));
                fitted.funcs.push((
                    f.name.clone(),
                    FuncInfo {
                        slot,
                        ty: f.ty.clone(),
                        sig: String::new(),
                    },
                ));
            }
            func.exported = false;
            fitted.edit.funcs.push((slot, func, d));
        }
        // Functions that named a redefined global now name the new one, as
        // if the session were assembled again.
        for (old, _) in &fitted.renamed {
            let new = fitted
                .globals
                .iter()
                .position(|g| self.slots.get(*old).is_some_and(|s| s.name == g.name));
            let Some(new) = new.map(|k| (self.slots.len() + k) as u32) else {
                continue;
            };
            let old = *old as u32;
            let relink = |op: &Operand| match op {
                Operand::Global(i) if *i == old => Operand::Global(new),
                other => other.clone(),
            };
            let module = self.instance.module().module();
            let replaced: HashSet<usize> = fitted.edit.funcs.iter().map(|(s, ..)| *s).collect();
            let users = self.global_users.get(&old).into_iter().flatten();
            for name in users {
                let Some(info) = self.funcs.get(name) else {
                    continue;
                };
                if replaced.contains(&info.slot) {
                    continue;
                }
                let f = &module.funcs[info.slot];
                let uses = keel_vm::internals::isa::decode_code(&f.code, 0)
                    .map(|code| code.iter().any(|(_, i)| i.operand == Operand::Global(old)))
                    .unwrap_or(false);
                if uses {
                    let d = module.func_debug(info.slot).cloned().unwrap_or_default();
                    let (func, d) = piece::recode(f, &d, &relink, 0)?;
                    fitted
                        .global_uses
                        .push((name.clone(), globals_named(&func.code)));
                    fitted.edit.funcs.push((info.slot, func, d));
                }
            }
        }
        fitted.edit.rename_globals = fitted.renamed.clone();
        fitted.edit.strings = fitted.strings.clone();
        if !snippet {
            // The last line's snippet may call what this input redefines:
            // it is done, so it makes way for an empty one.
            let (f, d) = piece::empty_snippet();
            fitted.edit.funcs.push((snippet_index, f, d));
        }
        fitted.edit.snippet_entry = Some(self.entry_types());
        Ok(fitted)
    }

    /// Installs `fitted` in the instance and commits its bookkeeping.
    fn install(&mut self, fitted: Fitted) -> Result<(), String> {
        let Fitted {
            edit,
            strings,
            globals,
            renamed,
            imports,
            records,
            funcs,
            global_uses,
        } = fitted;
        self.instance
            .edit_module(edit, &self.linker)
            .map_err(|e| match e {
                EditError::Link(e) => link_errors(&e),
                EditError::Verify(e) => self.text.render_verify(&e),
            })?;
        for s in strings {
            let i = self.strings.len() as u32;
            self.strings.insert(s, i);
        }
        for (old, dead) in renamed {
            if let Some(slot) = self.slots.get_mut(old) {
                self.live.remove(&slot.name);
                slot.name = dead;
                slot.user = false;
            }
        }
        for g in globals {
            self.live.insert(g.name.clone(), self.slots.len());
            self.slots.push(g);
        }
        self.imports.extend(imports);
        for r in records {
            self.records.insert(r.name.clone(), r);
        }
        for (name, info) in funcs {
            self.funcs.insert(name, info);
        }
        for (name, globals) in global_uses {
            for g in globals {
                self.global_users.entry(g).or_default().insert(name.clone());
            }
        }
        Ok(())
    }

    /// Applies definitions (from input or `:load`) as one change.
    fn define(&mut self, items: Vec<(Def, Chunk)>) -> Result<String, String> {
        let mut out = String::new();
        let mut t = ModuleText::default();
        let mut defined: Vec<NewGlobal> = Vec::new();
        // The signature each function name was last given in this input.
        let mut sigs: HashMap<&str, &str> = HashMap::new();
        let mut seen_globals: HashSet<&str> = HashSet::new();
        let reserved = |name: &str| {
            name.starts_with(RESERVED).then(|| {
                format!(
                    "error: names starting with `{RESERVED}` are reserved for the REPL: `{name}`\n"
                )
            })
        };
        // A name defined twice in one input: the last definition counts.
        // (Indexed once, so an input of many items stays linear.)
        let mut last_func: HashMap<&str, usize> = HashMap::new();
        let mut last_global: HashMap<&str, usize> = HashMap::new();
        for (at, (def, _)) in items.iter().enumerate() {
            match def {
                Def::Func { name, .. } => {
                    last_func.insert(name, at);
                }
                Def::Global { name, .. } => {
                    last_global.insert(name, at);
                }
                _ => {}
            }
        }
        for (at, (def, chunk)) in items.iter().enumerate() {
            match def {
                Def::Func { name, sig } => {
                    if let Some(e) = reserved(name) {
                        return Err(e);
                    }
                    let verb = if self.funcs.contains_key(name) || sigs.contains_key(name.as_str())
                    {
                        "redefined"
                    } else {
                        "defined"
                    };
                    let _ = writeln!(out, "{verb} {name}{sig}");
                    sigs.insert(name, sig);
                    if last_func.get(name.as_str()) == Some(&at) {
                        t.chunk(chunk);
                    }
                }
                Def::Global { name, ty } => {
                    if let Some(e) = reserved(name) {
                        return Err(e);
                    }
                    let verb = if self.live.contains_key(name) || !seen_globals.insert(name) {
                        "redefined"
                    } else {
                        "defined"
                    };
                    let _ = writeln!(out, "{verb} global {name}: {ty}");
                    // Only the last definition of a name in one input is
                    // assembled.
                    if last_global.get(name.as_str()) == Some(&at) {
                        defined.push(NewGlobal {
                            name: name.clone(),
                            user: true,
                        });
                        t.chunk(chunk);
                    }
                }
                Def::Import { name } => {
                    let _ = writeln!(out, "defined import {name}");
                    t.chunk(chunk);
                }
                Def::Record(r) => {
                    if let Some(e) = reserved(&r.name) {
                        return Err(e);
                    }
                    match self.records.get(&r.name) {
                        Some(old) if old == r => {
                            let _ = writeln!(out, "record {} unchanged", r.name);
                        }
                        Some(old) => return Err(record_changed(old, r)),
                        None => {
                            let _ = writeln!(out, "defined record {}", r.name);
                        }
                    }
                    t.chunk(chunk);
                }
                Def::Ignored => {
                    let _ = writeln!(
                        out,
                        "note: `.module` and `.export` have no effect in the REPL"
                    );
                }
            }
        }
        let m = self.assemble(&mut t, &defined, None)?;
        // Positions in `m` are lines of its own text; the session's text
        // holds every input's.
        let base = self.text.append(&t);
        let mut fitted = self.fit(&m, base, &defined, false)?;
        for (name, info) in &mut fitted.funcs {
            if let Some(sig) = sigs.get(name.as_str()) {
                info.sig = (*sig).to_owned();
            }
        }
        self.install(fitted)?;
        Ok(out)
    }

    /// Runs a code line against the stack.
    fn run_line(&mut self, chunk: &Chunk) -> Result<String, String> {
        let (declared, code) = take_locals(chunk)?;
        let mut fresh: Vec<(String, Local)> = Vec::new();
        let mut defined = Vec::new();
        let mut t = ModuleText::default();
        for (name, ty) in declared {
            let known = fresh
                .iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, l)| l)
                .or_else(|| self.locals.get(&name));
            if known.is_some_and(|l| l.ty == ty) {
                continue;
            }
            let slot = self.fresh(&format!("local_{}", name.replace('.', "_")));
            t.generated(&format!(".global {slot}: {ty}"));
            defined.push(NewGlobal {
                name: slot.clone(),
                user: false,
            });
            fresh.retain(|(n, _)| *n != name);
            fresh.push((name, Local { ty, slot }));
        }
        // The locals after this line, in declaration order: a retyped one
        // keeps its place.
        let mut locals: Vec<(&str, &Local)> = self
            .locals
            .iter()
            .map(|(n, l)| {
                let l = fresh.iter().find(|(f, _)| f == n).map_or(l, |(_, f)| f);
                (n.as_str(), l)
            })
            .collect();
        for (n, l) in &fresh {
            if !self.locals.contains_key(n) {
                locals.push((n.as_str(), l));
            }
        }
        // The line declares, loads and stores only the locals it names
        // (all of them if it names one by index), so its cost does not
        // grow with the session.
        let toks: Vec<Tok<'_>> = lex(&code.text)
            .filter_map(Result::ok)
            .map(|(_, t, _)| t)
            .collect();
        let by_index = toks
            .windows(2)
            .any(|w| matches!(w, [Tok::Ident("load" | "store"), Tok::Int(_)]));
        if !by_index {
            locals.retain(|(n, _)| toks.contains(&Tok::Ident(n)));
        }
        t.generated(&format!(".func {LINE_FUNC}()"));
        let mut prologue = String::new();
        let mut epilogue = String::new();
        for (name, l) in &locals {
            t.generated(&format!(".local {name}: {}", l.ty));
            let _ = write!(prologue, "gload {} store {name} ", l.slot);
            let _ = write!(epilogue, "load {name} gstore {} ", l.slot);
        }
        t.generated(&prologue);
        t.chunk(&code);
        // A label at the end of the line lands here.
        t.generated("nop");
        t.generated(&epilogue);
        t.generated(".end");
        let m = self.assemble(&mut t, &defined, Some(LINE_FUNC))?;
        let base = self.text.append(&t);
        let fitted = self.fit(&m, base, &defined, true)?;
        self.install(fitted)?;
        let exit = self
            .instance
            .module()
            .snippet()
            .and_then(|s| s.exit.clone())
            .unwrap_or_default();
        let operands: Vec<_> = self.stack.iter().map(|e| e.value.value()).collect();
        // Stale interrupts are withdrawn here; the watchdog's, which may
        // fire before the run starts, is kept for it.
        self.instance.interrupt_handle().clear();
        self.instance.keep_pending_interrupt(true);
        self.instance.set_fuel(self.limits.fuel);
        let (stats_before, gc_before) = (self.instance.stats(), self.instance.gc_stats());
        let started = Instant::now();
        let watchdog = self.limits.timeout.as_ref().map(|(limit, spelled)| {
            Watchdog::start(
                self.instance.interrupt_handle(),
                *limit,
                format!("timeout of {spelled} exceeded"),
            )
        });
        let result = self.instance.run_snippet(&operands);
        drop(watchdog);
        let elapsed = started.elapsed();
        if self.limits.stats {
            let st = since(self.instance.stats(), stats_before);
            let mut gc = self.instance.gc_stats();
            gc.collections -= gc_before.collections.min(gc.collections);
            gc.minor_collections -= gc_before.minor_collections.min(gc.minor_collections);
            gc.major_collections -= gc_before.major_collections.min(gc.major_collections);
            gc.pause = gc.pause.saturating_sub(gc_before.pause);
            self.line_stats = Some(crate::stats_report(&st, &gc, elapsed));
        }
        let values = result.map_err(|trap| {
            let mut shown = self.text.render_trap(trap);
            if self.timing {
                shown.push_str(&timing(elapsed));
            }
            shown
        })?;
        for (name, l) in fresh {
            self.locals.insert(name, l);
        }
        self.stack = values
            .into_iter()
            .zip(exit)
            .map(|(v, ty)| Entry {
                value: self.instance.hold(v),
                ty,
            })
            .collect();
        let mut out = self.stack_line();
        out.push('\n');
        if self.timing {
            out.push_str(&timing(elapsed));
        }
        Ok(out)
    }

    fn command(&mut self, input: &str) -> Result<Reply, String> {
        let (cmd, arg) = match input.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (input, ""),
        };
        let show = |s: String| Ok(Reply::Show(s));
        match cmd {
            ":quit" | ":q" => Ok(Reply::Quit),
            ":help" | ":h" => show(self.help(arg)?),
            ":stack" => {
                let mut out = String::new();
                for (i, e) in self.stack.iter().enumerate().rev() {
                    let (shown, cut) = self
                        .instance
                        .repr_prefix(e.value.value(), STACK_VALUE_BYTES);
                    let more = if cut { "..." } else { "" };
                    let _ = writeln!(out, "#{i:<3} {shown}{more}: {}", stack_type(&e.ty));
                }
                if out.is_empty() {
                    out.push_str("(empty stack)\n");
                }
                show(out)
            }
            ":clear" => {
                self.stack.clear();
                show(format!("{}\n", self.stack_line()))
            }
            ":reset" => {
                let limits = self.limits.clone();
                *self = Session::new(
                    self.catalog.clone(),
                    self.linker.clone(),
                    self.config.clone(),
                )?;
                self.limits = limits;
                show("session reset: no definitions, no locals, empty stack\n".into())
            }
            ":gc" => {
                self.instance.collect_garbage();
                let s = self.instance.gc_stats();
                show(format!(
                    "gc: {} collection{} ({} minor, {} major), {} live bytes, {} peak bytes, {} bytes allocated\n",
                    s.collections,
                    plural(s.collections as usize),
                    s.minor_collections,
                    s.major_collections,
                    s.live_bytes,
                    s.peak_bytes,
                    s.allocated_bytes
                ))
            }
            ":time" => {
                self.timing = !self.timing;
                show(format!(
                    "timing {}\n",
                    if self.timing { "on" } else { "off" }
                ))
            }
            ":dis" => show(self.dis(arg)?),
            ":load" => {
                if arg.is_empty() {
                    return Err("error: `:load` needs a file: `:load FILE`\n".into());
                }
                let text = std::fs::read_to_string(arg)
                    .map_err(|e| format!("error: cannot read {arg}: {e}\n"))?;
                let items = split(&Arc::from(arg), 1, &text)?;
                let (funcs, globals) = items.iter().fold((0, 0), |(f, g), (d, _)| match d {
                    Def::Func { .. } => (f + 1, g),
                    Def::Global { .. } => (f, g + 1),
                    _ => (f, g),
                });
                let items = items
                    .into_iter()
                    .filter(|(d, _)| !matches!(d, Def::Ignored))
                    .collect();
                self.define(items)?;
                show(format!(
                    "loaded {arg}: {funcs} function{}, {globals} global{}\n",
                    plural(funcs),
                    plural(globals)
                ))
            }
            _ => Err(format!(
                "error: unknown command `{cmd}`; `:help` lists the commands\n"
            )),
        }
    }

    fn dis(&self, name: &str) -> Result<String, String> {
        if name.is_empty() {
            return Err("error: `:dis` needs a function name: `:dis NAME`\n".into());
        }
        if !self.funcs.contains_key(name) {
            if let Some(f) = self.catalog.get(name) {
                return Ok(format!(
                    "`{name}{}` is a library function: native code, no bytecode to show\n",
                    f.ty
                ));
            }
            return Err(format!("error: no function `{name}` in this session\n"));
        }
        let all = keel_assembler::disassemble(self.instance.module().module())
            .map_err(|e| format!("error: {e}\n"))?;
        // The disassembler prints each function from `.func NAME(` to `.end`.
        let head = format!(".func {name}(");
        let start = all
            .find(&format!("\n{head}"))
            .map(|i| i + 1)
            .or_else(|| all.starts_with(&head).then_some(0))
            .ok_or_else(|| format!("error: no function `{name}` in this session\n"))?;
        let len = all[start..]
            .find("\n.end")
            .map_or(all.len() - start, |i| i + "\n.end".len());
        Ok(format!("{}\n", &all[start..start + len]))
    }

    /// The group an instruction or library function is listed under in
    /// `:help`: the part of its name before the dot (`array.get` is in
    /// `array`), or `core` for the undotted ones (`push`, `add`, `print`).
    fn help_group(name: &str) -> &str {
        name.split_once('.').map_or("core", |(g, _)| g)
    }

    /// The help groups in first-seen order (instructions first), each with
    /// its members' names.
    fn help_groups(&self) -> IndexMap<String, Vec<String>> {
        let mut groups: IndexMap<String, Vec<String>> = IndexMap::new();
        let names = Opcode::ALL
            .iter()
            .map(|op| op.mnemonic().to_owned())
            .chain(self.catalog.iter().map(|f| f.name.clone()));
        for n in names {
            let members = groups.entry(Self::help_group(&n).to_owned()).or_default();
            if !members.contains(&n) {
                members.push(n);
            }
        }
        groups
    }

    /// `:help GROUP`, or `:help all` (`None`): one line per instruction and
    /// library function (from the opcode table and the library's
    /// definitions, as the spec is).
    fn help_listing(&self, group: Option<&str>) -> String {
        let mut out = String::new();
        let wanted = |n: &str| group.is_none_or(|g| Self::help_group(n) == g);
        let ops: Vec<_> = Opcode::ALL
            .iter()
            .filter(|op| wanted(op.mnemonic()))
            .collect();
        if !ops.is_empty() {
            out.push_str("Instructions (operand, stack effect, what it does):\n");
        }
        for op in ops {
            let form = format!(
                "{} {}",
                op.mnemonic(),
                op.operand_kind().describe().replace('`', "")
            );
            let _ = writeln!(
                out,
                "  {:<28} {:<28} {}",
                form.trim_end(),
                op.stack_effect(),
                op.summary().replace('`', "")
            );
        }
        let funcs: Vec<_> = self.catalog.iter().filter(|f| wanted(&f.name)).collect();
        if !funcs.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("Library functions (call NAME):\n");
        }
        for f in funcs {
            let _ = writeln!(out, "  {:<40} {}", format!("{}{}", f.name, f.ty), f.doc);
        }
        out
    }

    fn help(&self, name: &str) -> Result<String, String> {
        let mut out = String::new();
        if name.is_empty() {
            out.push_str("Type instructions to run them on the stack (`push 2 push 3 add`); a bare\nliteral pushes itself. Define with `.func ... .end`, `.record ... .end`,\n`.global`, `.local`; blocks (`.if`, `.while`, `.for`) work on a line or across\nlines.\n\nCommands:\n");
            for (_, line) in COMMANDS {
                let _ = writeln!(out, "  {line}");
            }
            out.push_str(
                "\nInstructions and library functions, by group (`:help GROUP` lists one):\n",
            );
            let mut line = String::from(" ");
            for (group, members) in self.help_groups() {
                let item = format!(" {group} ({})", members.len());
                if line.len() + item.len() > 78 {
                    let _ = writeln!(out, "{line}");
                    line = String::from(" ");
                }
                line.push_str(&item);
            }
            let _ = writeln!(out, "{line}");
            out.push_str(
                "\n`:help NAME` shows one instruction, function or command with its traps;\n`:help all` lists everything.\n",
            );
            return Ok(out);
        }
        if name == "all" {
            return Ok(self.help_listing(None));
        }
        let name = name.trim_start_matches(':');
        if let Some((_, line)) = COMMANDS.iter().find(|(c, _)| &c[1..] == name) {
            let _ = writeln!(out, "{line}");
        }
        for op in Opcode::by_mnemonic(name) {
            let operand = op.operand_kind().describe();
            let _ = writeln!(
                out,
                "{}{}{}  {}",
                op.mnemonic(),
                if operand.is_empty() { "" } else { " " },
                operand.replace('`', ""),
                op.stack_effect()
            );
            let _ = writeln!(out, "    {}", op.summary().replace('`', ""));
            if !op.traps().is_empty() {
                let _ = writeln!(out, "    traps: {}", op.traps());
            }
        }
        if let Some(f) = self.catalog.get(name) {
            let _ = writeln!(out, "{}{}", f.name, f.ty);
            if !f.doc.is_empty() {
                let _ = writeln!(out, "    {}", f.doc);
            }
            if let Some(flag) = keel_stdlib::capability_of(name) {
                let _ = writeln!(out, "    needs {}: {}", flag.flag, flag.grants);
            }
        }
        if let Some(info) = self.funcs.get(name) {
            let _ = writeln!(
                out,
                "{name}{}  (defined in this session; `:dis {name}`)",
                info.sig
            );
        }
        if out.is_empty() {
            // A group by its name or its plural (`:help arrays`).
            let groups = self.help_groups();
            let group = [Some(name), name.strip_suffix('s')]
                .into_iter()
                .flatten()
                .find(|g| groups.contains_key(*g));
            if let Some(g) = group {
                out = self.help_listing(Some(g));
            }
        }
        if out.is_empty() {
            return Err(format!(
                "error: no instruction, library function, command or help group named `{name}`\n"
            ));
        }
        Ok(out)
    }
}

/// Every mnemonic, once, in table order.
pub fn mnemonics() -> Vec<String> {
    let mut seen = Vec::<String>::new();
    for op in Opcode::ALL {
        if !seen.iter().any(|m| m == op.mnemonic()) {
            seen.push(op.mnemonic().to_owned());
        }
    }
    seen
}

/// Link errors as `vmrun` prints them (naming the flag of a capability
/// not granted).
fn link_errors(errors: &[keel_vm::LinkError]) -> String {
    crate::link_errors(errors)
}

/// The counters `now` has gained since `before` (the JIT's included).
fn since(now: ExecStats, before: ExecStats) -> ExecStats {
    ExecStats {
        instructions: now.instructions.saturating_sub(before.instructions),
        calls: now.calls.saturating_sub(before.calls),
        jit_loops: now.jit_loops.saturating_sub(before.jit_loops),
        jit_rejected: now.jit_rejected.saturating_sub(before.jit_rejected),
        jit_functions: now.jit_functions.saturating_sub(before.jit_functions),
        jit_osr_entries: now.jit_osr_entries.saturating_sub(before.jit_osr_entries),
        jit_compile_ns: now.jit_compile_ns.saturating_sub(before.jit_compile_ns),
        jit_code_bytes: now.jit_code_bytes.saturating_sub(before.jit_code_bytes),
        ..now
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn timing(d: Duration) -> String {
    format!("time: {:.3} ms\n", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests;

/// The global slots `code` names (loads and stores), each once.
fn globals_named(code: &[u8]) -> Vec<u32> {
    let mut out: Vec<u32> = keel_vm::internals::isa::decode_code(code, 0)
        .map(|code| {
            code.iter()
                .filter_map(|(_, i)| match i.operand {
                    Operand::Global(g) => Some(g),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out.dedup();
    out
}

/// The error for a record redefined with other fields.
fn record_changed(old: &RecordDef, new: &RecordDef) -> String {
    let fields = |r: &RecordDef| {
        r.fields
            .iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    format!(
        "error: record `{}` is already defined as `{}`, not `{}`: a record cannot change once defined (values of it may exist); `:reset` starts over\n",
        old.name,
        fields(old),
        fields(new)
    )
}

/// How the stack shows a value's static type: the literal `nil` (whose
/// verifier-only type is `nil`) shows as `any`, the type it had before
/// records existed and the one it is accepted as everywhere.
fn stack_type(ty: &Type) -> &dyn std::fmt::Display {
    match ty {
        Type::Nil => &"any",
        t => t,
    }
}
