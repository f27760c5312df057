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
pub mod text;

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use keel_vm::isa::Opcode;
use keel_vm::{Config, Handle, Instance, InterruptHandle, Linker, Type, VerifiedModule};

use items::{Def, split, take_locals};
pub use items::{InputKind, kind, needs_more};
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
    name: String,
    ty: Type,
    /// The user's `.global` text; `None` for the session's hidden slots.
    def: Option<Chunk>,
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

/// Everything a session holds.
pub struct Session {
    catalog: Linker,
    linker: Linker,
    config: Config,
    slots: Vec<Slot>,
    imports: IndexMap<String, Chunk>,
    funcs: IndexMap<String, (Chunk, String)>,
    locals: IndexMap<String, Local>,
    stack: Vec<Entry>,
    instance: Instance,
    next_id: usize,
    timing: bool,
}

/// A candidate module: everything that would be committed with it.
struct Candidate {
    slots: Vec<Slot>,
    imports: IndexMap<String, Chunk>,
    funcs: IndexMap<String, (Chunk, String)>,
    locals: IndexMap<String, Local>,
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
        let empty = Candidate {
            slots: Vec::new(),
            imports: IndexMap::new(),
            funcs: IndexMap::new(),
            locals: IndexMap::new(),
        };
        let (module, _) = build(&catalog, &empty, &[], None)?;
        let instance =
            Instance::new(module, &linker, config.clone()).map_err(|e| link_errors(&e))?;
        Ok(Session {
            catalog,
            linker,
            config,
            slots: Vec::new(),
            imports: IndexMap::new(),
            funcs: IndexMap::new(),
            locals: IndexMap::new(),
            stack: Vec::new(),
            instance,
            next_id: 0,
            timing: false,
        })
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
            .chain(
                self.slots
                    .iter()
                    .filter(|s| s.def.is_some())
                    .map(|s| s.name.clone()),
            )
            .chain(self.locals.keys().cloned())
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
                format!("{shown}: {}", e.ty)
            })
            .collect();
        format!("[{}]", items.join(", "))
    }

    fn candidate(&self) -> Candidate {
        Candidate {
            slots: self.slots.clone(),
            imports: self.imports.clone(),
            funcs: self.funcs.clone(),
            locals: self.locals.clone(),
        }
    }

    fn fresh(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{RESERVED}{what}_{}", self.next_id)
    }

    /// Builds `c` with `line` as the snippet and switches the instance to
    /// it; commits the global slots (see the module invariants).
    fn install(
        &mut self,
        c: &Candidate,
        line: Option<&Chunk>,
    ) -> Result<(Arc<VerifiedModule>, ModuleText), String> {
        let entry: Vec<Type> = self.stack.iter().map(|e| e.ty.clone()).collect();
        let (module, text) = build(&self.catalog, c, &entry, line)?;
        self.instance
            .replace_module(module.clone(), &self.linker)
            .map_err(|e| link_errors(&e))?;
        self.slots = c.slots.clone();
        Ok((module, text))
    }

    /// Applies definitions (from input or `:load`) as one change.
    fn define(&mut self, items: Vec<(Def, Chunk)>) -> Result<String, String> {
        let mut c = self.candidate();
        let mut out = String::new();
        for (def, chunk) in items {
            let reserved = |name: &str| {
                name.starts_with(RESERVED).then(|| {
                    format!("error: names starting with `{RESERVED}` are reserved for the REPL: `{name}`\n")
                })
            };
            match def {
                Def::Func { name, sig } => {
                    if let Some(e) = reserved(&name) {
                        return Err(e);
                    }
                    let verb = if c.funcs.contains_key(&name) {
                        "redefined"
                    } else {
                        "defined"
                    };
                    let _ = writeln!(out, "{verb} {name}{sig}");
                    c.funcs.insert(name, (chunk, sig));
                }
                Def::Global { name, ty } => {
                    if let Some(e) = reserved(&name) {
                        return Err(e);
                    }
                    let verb = match c.slots.iter().position(|s| s.name == name) {
                        Some(i) => {
                            // The old slot stays, unnamed, so globals only grow.
                            let dead = self.fresh("dead");
                            c.slots[i].name = dead;
                            c.slots[i].def = None;
                            "redefined"
                        }
                        None => "defined",
                    };
                    let _ = writeln!(out, "{verb} global {name}: {ty}");
                    c.slots.push(Slot {
                        name,
                        ty,
                        def: Some(chunk),
                    });
                }
                Def::Import { name } => {
                    let _ = writeln!(out, "defined import {name}");
                    c.imports.insert(name, chunk);
                }
                Def::Ignored => {
                    let _ = writeln!(
                        out,
                        "note: `.module` and `.export` have no effect in the REPL"
                    );
                }
            }
        }
        self.install(&c, None)?;
        self.imports = c.imports;
        self.funcs = c.funcs;
        Ok(out)
    }

    /// Runs a code line against the stack.
    fn run_line(&mut self, chunk: &Chunk) -> Result<String, String> {
        let (declared, code) = take_locals(chunk)?;
        let mut c = self.candidate();
        for (name, ty) in declared {
            if c.locals.get(&name).is_some_and(|l| l.ty == ty) {
                continue;
            }
            let slot = self.fresh(&format!("local_{}", name.replace('.', "_")));
            c.slots.push(Slot {
                name: slot.clone(),
                ty: ty.clone(),
                def: None,
            });
            c.locals.insert(name, Local { ty, slot });
        }
        let (module, text) = self.install(&c, Some(&code))?;
        let exit = module
            .snippet()
            .and_then(|s| s.exit.clone())
            .unwrap_or_default();
        let operands: Vec<_> = self.stack.iter().map(|e| e.value.value()).collect();
        self.instance.interrupt_handle().clear();
        let started = Instant::now();
        let result = self.instance.run_snippet(&operands);
        let elapsed = started.elapsed();
        let values = result.map_err(|trap| {
            let mut shown = text.render_trap(trap);
            if self.timing {
                shown.push_str(&timing(elapsed));
            }
            shown
        })?;
        self.locals = c.locals;
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
                    let _ = writeln!(out, "#{i:<3} {shown}{more}: {}", e.ty);
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
                *self = Session::new(
                    self.catalog.clone(),
                    self.linker.clone(),
                    self.config.clone(),
                )?;
                show("session reset: no definitions, no locals, empty stack\n".into())
            }
            ":gc" => {
                self.instance.collect_garbage();
                let s = self.instance.gc_stats();
                show(format!(
                    "gc: {} collection{}, {} live bytes, {} peak bytes, {} bytes allocated\n",
                    s.collections,
                    plural(s.collections as usize),
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

    fn help(&self, name: &str) -> Result<String, String> {
        let mut out = String::new();
        if name.is_empty() {
            out.push_str("Type instructions to run them on the stack (`push 2 push 3 add`); a bare\nliteral pushes itself. Define with `.func ... .end`, `.global`, `.local`.\n\nCommands:\n");
            for (_, line) in COMMANDS {
                let _ = writeln!(out, "  {line}");
            }
            // One line per instruction and library function, from the
            // opcode table and the library's definitions (as the spec is).
            out.push_str("\nInstructions (operand, stack effect, what it does):\n");
            for op in Opcode::ALL {
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
            out.push_str("\nLibrary functions (call NAME):\n");
            for f in self.catalog.iter() {
                let _ = writeln!(out, "  {:<40} {}", format!("{}{}", f.name, f.ty), f.doc);
            }
            out.push_str(
                "\n`:help NAME` shows one instruction, function or command with its traps.\n",
            );
            return Ok(out);
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
        if let Some((_, sig)) = self.funcs.get(name) {
            let _ = writeln!(out, "{name}{sig}  (defined in this session; `:dis {name}`)");
        }
        if out.is_empty() {
            return Err(format!(
                "error: no instruction, library function or command named `{name}`\n"
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

/// Link errors as the REPL prints them, one `error:` line each.
fn link_errors(errors: &[keel_vm::LinkError]) -> String {
    errors.iter().map(|e| format!("error: {e}\n")).collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn timing(d: Duration) -> String {
    format!("time: {:.3} ms\n", d.as_secs_f64() * 1000.0)
}

/// Compiles a candidate into module text and a verified module whose
/// snippet runs `line` on a stack of types `entry`. In the line, a bare
/// literal pushes itself (`42`, `2 3 add`).
fn build(
    catalog: &Linker,
    c: &Candidate,
    entry: &[Type],
    line: Option<&Chunk>,
) -> Result<(Arc<VerifiedModule>, ModuleText), String> {
    let mut t = ModuleText::default();
    for s in &c.slots {
        match &s.def {
            Some(chunk) => t.chunk(chunk),
            None => t.generated(&format!(".global {}: {}", s.name, s.ty)),
        }
    }
    for chunk in c.imports.values() {
        t.chunk(chunk);
    }
    for (chunk, _) in c.funcs.values() {
        t.chunk(chunk);
    }
    t.generated(&format!(".func {LINE_FUNC}()"));
    let mut prologue = String::new();
    let mut epilogue = String::new();
    for (name, l) in &c.locals {
        t.generated(&format!(".local {name}: {}", l.ty));
        let _ = write!(prologue, "gload {} store {name} ", l.slot);
        let _ = write!(epilogue, "load {name} gstore {} ", l.slot);
    }
    t.generated(&prologue);
    if let Some(line) = line {
        t.chunk(line);
    }
    // A label at the end of the line lands here.
    t.generated("nop");
    t.generated(&epilogue);
    t.generated(".end");
    let module =
        keel_assembler::assemble_with_literal_pushes(&t.src, REPL_FILE, catalog, LINE_FUNC)
            .map_err(|errors| {
                errors
                    .iter()
                    .map(|e| t.render_offset(e.span.start, &e.to_string()))
                    .collect::<String>()
            })?;
    let verified = keel_vm::verify_snippet(module, c.funcs.len(), entry)
        .map_err(|errors| t.render_verify(&errors))?;
    Ok((Arc::new(verified), t))
}

#[cfg(test)]
mod tests;
