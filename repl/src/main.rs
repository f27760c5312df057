//! `vmrun`: run, check, assemble and disassemble Keel programs.
//!
//! Exit status: 0 on success (or the int `main` returns), 1 when the program
//! traps or stdout fails, 2 for an invalid program, a missing file or bad
//! usage, 141 when stdout is closed by its reader (see [`output`]).

#![forbid(unsafe_code)]

#[cfg(unix)]
mod fd_reader;
mod jit_listing;
mod load;
mod output;
mod session;
mod shell;
mod streams;
mod trap_report;

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use keel_vm::{Config, Instance, Linker};
use load::{LoadError, load, verify_loaded};

pub(crate) const EXIT_TRAP: u8 = 1;
pub(crate) const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "vmrun",
    version,
    about = "Run Keel programs (.kasm assembly or .kbc bytecode)",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble or load, verify and run `main` (the default command).
    Run(RunArgs),
    /// Assemble or load and verify; print nothing when the program is valid.
    Check {
        /// A .kasm or .kbc file.
        file: PathBuf,
    },
    /// Assemble a .kasm file into verified .kbc bytecode.
    Asm {
        /// The .kasm file.
        file: PathBuf,
        /// Output file (default: the input with a .kbc extension).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Drop debug info (names and line table).
        #[arg(long)]
        strip: bool,
    },
    /// List what a module needs from outside (host functions and library
    /// capabilities) and the flags that grant it.
    Caps {
        /// A .kasm or .kbc file.
        file: PathBuf,
    },
    /// An interactive session: type instructions and watch the stack
    /// (reads a session from stdin when it is not a terminal).
    Repl(ReplArgs),
    /// Print a module as assembly that re-assembles to the same bytecode.
    Dis {
        /// A .kbc or .kasm file.
        file: PathBuf,
        /// With --jit, list only the function of this name.
        #[arg(requires = "jit")]
        func: Option<String>,
        /// Instead, verify and print the specialized code the interpreter
        /// runs (typed forms such as AddInt, and fused superinstructions).
        #[arg(long)]
        verified: bool,
        /// Instead, compile each function (or FUNC) with the JIT and print
        /// its machine code, each range under the specialized op (as
        /// --verified prints it) it came from (x86_64 only; not with
        /// --verified; addresses differ from run to run).
        #[arg(long, conflicts_with = "verified")]
        jit: bool,
    },
}

/// Limits, debugging switches and capabilities, for runs and sessions.
#[derive(Args, Clone)]
struct Common {
    /// Collect garbage at every allocation (slow; for testing the VM).
    #[arg(long)]
    gc_stress: bool,
    /// Re-check the verifier's promises before every instruction (slow;
    /// for testing the VM).
    #[arg(long)]
    checked: bool,
    /// Heap limit, in bytes or with a K, M or G suffix (default 2G).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_heap: Option<usize>,
    /// Value-stack limit, in bytes or with a K, M or G suffix (default and
    /// most 256M); the stack also counts toward --max-heap.
    #[arg(long, value_name = "SIZE", value_parser = parse_stack_size)]
    max_stack: Option<usize>,
    /// Call depth limit (default 100000).
    #[arg(long, value_name = "N")]
    max_depth: Option<usize>,
    /// Grant `fs.read` and `fs.list` under DIR (repeatable).
    #[arg(long, value_name = "DIR")]
    allow_read: Vec<PathBuf>,
    /// Grant `fs.write` under DIR (repeatable).
    #[arg(long, value_name = "DIR")]
    allow_write: Vec<PathBuf>,
    /// Grant `env.get`.
    #[arg(long)]
    allow_env: bool,
    /// Grant `time.now_ms`.
    #[arg(long)]
    allow_time: bool,
    /// Seed of `rand.int` (default fixed, so runs reproduce).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Hot loops as machine code: `on` (default), `off`, or `eager`
    /// (compile every loop at its first back edge; for testing the JIT).
    #[arg(long, value_name = "MODE", default_value = "on", value_parser = parse_jit)]
    jit: keel_vm::JitMode,
}

fn parse_jit(s: &str) -> Result<keel_vm::JitMode, String> {
    match s {
        "on" => Ok(keel_vm::JitMode::On),
        "off" => Ok(keel_vm::JitMode::Off),
        "eager" => Ok(keel_vm::JitMode::Eager),
        _ => Err(format!("`{s}` is not a JIT mode (use on, off or eager)")),
    }
}

impl Common {
    fn grants(&self) -> Grants {
        Grants {
            read: self.allow_read.clone(),
            write: self.allow_write.clone(),
            env: self.allow_env,
            time: self.allow_time,
            seed: self.seed,
        }
    }

    fn config(&self) -> Config {
        let default = Config::default();
        let mut config = Config::default()
            .gc_stress(self.gc_stress || default.gc_stress)
            .checked(self.checked)
            .jit(self.jit);
        if let Some(h) = self.max_heap {
            config.max_heap_bytes = h;
        }
        if let Some(s) = self.max_stack {
            config.max_stack_bytes = s;
        }
        if let Some(d) = self.max_depth {
            config.max_call_depth = d;
        }
        config
    }
}

/// The limits of one run: a program's, or each input line's in the REPL.
#[derive(Args, Clone, Default)]
struct RunLimits {
    /// Print execution and GC statistics to stderr after the run (in the
    /// REPL: after each line that runs code, for that line).
    #[arg(long)]
    stats: bool,
    /// Instruction budget: stop with `out of fuel` after about N
    /// instructions (checked at calls and backward jumps; in the REPL,
    /// each line gets N).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Wall-clock limit for the run, such as `500ms` or `2s` (in the REPL,
    /// for each line).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<(std::time::Duration, String)>,
}

#[derive(Args)]
struct ReplArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    limits: RunLimits,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    limits: RunLimits,
    /// The program: a .kasm or .kbc file. Without one, and with a terminal
    /// on stdin, `vmrun` opens the REPL.
    file: Option<PathBuf>,
    /// Arguments passed to `main(args: array<str>)`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (digits, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1usize << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("`{s}` is not a size (use bytes, or a number with K, M or G)"))
}

/// A `--max-stack` size: as [`parse_size`], at most the VM's cap.
fn parse_stack_size(s: &str) -> Result<usize, String> {
    let bytes = parse_size(s)?;
    let cap = keel_vm::Config::default().max_stack_bytes;
    if bytes > cap {
        return Err(format!(
            "`{s}` is over the value-stack cap of {}M",
            cap >> 20
        ));
    }
    Ok(bytes)
}

/// `500ms`, `2s`, `1.5s`, `3m`: the duration and how the user wrote it.
fn parse_duration(s: &str) -> Result<(std::time::Duration, String), String> {
    let bad =
        || format!("`{s}` is not a duration (use a number with ms, s or m, such as 500ms or 2s)");
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .ok_or_else(bad)?;
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(secs)
        .map(|d| (d, s.to_owned()))
        .map_err(|_| bad())
}

/// The streams `vmrun` grants: buffered stdout, stdin (which the REPL
/// also reads its input from, so `io.read_line` reads the next line).
struct Streams {
    out: Arc<Mutex<streams::Out>>,
    input: Arc<Mutex<streams::In>>,
    /// The first error a write to stdout met.
    failure: output::StdoutFailure,
}

impl Streams {
    /// Flushes what the program and the REPL wrote.
    ///
    /// # Errors
    ///
    /// The error stdout gave (see [`output::write_failed`]).
    fn flush(&self) -> std::io::Result<()> {
        self.out.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

/// What a run is granted beyond stdout and stdin.
#[derive(Default)]
struct Grants {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    env: bool,
    time: bool,
    seed: Option<u64>,
}

/// The library `vmrun` links: core, io (stdout/stdin), `rand`, and the
/// capabilities in `grants`.
fn library_with(grants: &Grants) -> (Linker, Streams) {
    let (stdout, failure) = output::Stdout::new();
    let out = Arc::new(Mutex::new(streams::Out::new(stdout)));
    let input = Arc::new(Mutex::new(streams::In::new(out.clone())));
    let mut linker = Linker::new();
    keel_stdlib::install_io(
        &mut linker,
        keel_stdlib::Io {
            out: out.clone(),
            input: input.clone(),
        },
    );
    keel_stdlib::install_core(&mut linker);
    keel_stdlib::install_rand(
        &mut linker,
        grants.seed.unwrap_or(keel_stdlib::DEFAULT_SEED),
    );
    if !grants.read.is_empty() {
        keel_stdlib::install_fs_read(&mut linker, &grants.read);
    }
    if !grants.write.is_empty() {
        keel_stdlib::install_fs_write(&mut linker, &grants.write);
    }
    if grants.env {
        keel_stdlib::install_env(&mut linker);
    }
    if grants.time {
        keel_stdlib::install_time(&mut linker);
    }
    (
        linker,
        Streams {
            out,
            input,
            failure,
        },
    )
}

/// Every library function, granted or not: what the assembler resolves
/// calls against and what `caps` reports on. Granting happens at
/// instantiation, so a program that uses an ungranted capability still
/// assembles and then fails with a message naming the flag.
fn library() -> (Linker, Streams) {
    let all = Grants {
        read: vec![PathBuf::from(".")],
        write: vec![PathBuf::from(".")],
        env: true,
        time: true,
        seed: None,
    };
    library_with(&all)
}

/// Link errors, one `error:` line each; a library function left out for
/// want of a capability names the flag that grants it.
pub(crate) fn link_errors(errors: &[keel_vm::LinkError]) -> String {
    let mut text = String::new();
    for e in errors {
        match e {
            keel_vm::LinkError::MissingImport { name } => match keel_stdlib::capability_of(name) {
                Some(cap) => {
                    let _ = writeln!(
                        text,
                        "error: `{name}` needs a capability this run was not granted: add {} to {}",
                        cap.flag, cap.grants
                    );
                }
                None => {
                    let _ = writeln!(text, "error: {e}");
                }
            },
            _ => {
                let _ = writeln!(text, "error: {e}");
            }
        }
    }
    text
}

fn fail(e: LoadError) -> ExitCode {
    output::err(&e.0);
    ExitCode::from(EXIT_INVALID)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Usage errors go to stderr (a failure there is ignored);
            // `--help` and `--version` are output like any other.
            let printed = e.print();
            if e.use_stderr() {
                return ExitCode::from(EXIT_INVALID);
            }
            return match printed {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => output::write_failed(&e),
            };
        }
    };
    match cli.command {
        Some(Command::Run(args)) => run(args),
        None => run(cli.run),
        Some(Command::Check { file }) => check(&file),
        Some(Command::Asm {
            file,
            output,
            strip,
        }) => asm(&file, output, strip),
        Some(Command::Dis {
            file,
            func,
            verified,
            jit,
        }) => {
            if jit {
                dis_jit(&file, func.as_deref())
            } else {
                dis(&file, verified)
            }
        }
        Some(Command::Caps { file }) => caps(&file),
        Some(Command::Repl(r)) => shell::main(&r.common, &r.limits),
    }
}

fn caps(file: &Path) -> ExitCode {
    let (catalog, _) = library();
    let (module, _, file_name) = match load(file, &catalog).and_then(verify_loaded) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let (plain, _) = library_with(&Grants::default());
    let mut flags: Vec<&str> = Vec::new();
    let mut host = Vec::new();
    let mut lines = Vec::new();
    for im in &module.module().imports {
        if let Some(cap) = keel_stdlib::capability_of(&im.name) {
            lines.push(format!(
                "  {}{}  needs {} ({})",
                im.name, im.ty, cap.flag, cap.grants
            ));
            if !flags.contains(&cap.flag) {
                flags.push(cap.flag);
            }
        } else if plain.get(&im.name).is_some() {
            let note = match im.name.as_str() {
                "print" | "write" | "io.write_bytes" => "writes stdout, granted by vmrun",
                "io.read_line" | "io.read_bytes" => "reads stdin, granted by vmrun",
                _ => "pure, always available",
            };
            lines.push(format!("  {}{}  {note}", im.name, im.ty));
        } else {
            host.push(format!(
                "  {}{}  a host function: vmrun does not provide it",
                im.name, im.ty
            ));
        }
    }
    let mut text = format!("{file_name} calls:\n");
    if lines.is_empty() && host.is_empty() {
        text.push_str("  nothing outside itself\n");
    }
    for l in lines.iter().chain(&host) {
        let _ = writeln!(text, "{l}");
    }
    if host.is_empty() {
        let mut cmd = String::from("vmrun");
        for f in &flags {
            cmd.push(' ');
            cmd.push_str(f);
        }
        let _ = writeln!(text, "run it with the least privilege: {cmd} {file_name}");
    } else {
        text.push_str(
            "it cannot run under vmrun: it needs functions only an embedding host provides\n",
        );
    }
    print_all(&text)
}

/// Prints a command's whole output: success, or the exit for a failed
/// stdout.
fn print_all(text: &str) -> ExitCode {
    match output::out(text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::write_failed(&e),
    }
}

fn check(file: &Path) -> ExitCode {
    let (linker, _) = library();
    match load(file, &linker).and_then(verify_loaded) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn asm(file: &Path, output: Option<PathBuf>, strip: bool) -> ExitCode {
    let (linker, _) = library();
    let loaded = match load(file, &linker) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let module = if strip {
        loaded.module.stripped()
    } else {
        loaded.module.clone()
    };
    if let Err(e) = verify_loaded(loaded) {
        return fail(e);
    }
    let out = output.unwrap_or_else(|| file.with_extension("kbc"));
    match std::fs::write(&out, module.to_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::err(&format!("error: cannot write {}: {e}\n", out.display()));
            ExitCode::from(EXIT_INVALID)
        }
    }
}

fn dis(file: &Path, verified: bool) -> ExitCode {
    let (linker, _) = library();
    let loaded = match load(file, &linker) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    if verified {
        return match verify_loaded(loaded) {
            Ok((module, _, _)) => {
                let m = module.module();
                let mut text = String::new();
                for (i, f) in m.funcs.iter().enumerate() {
                    let _ = writeln!(text, ".func {}{}", f.name, f.ty);
                    let start = module.funcs()[i].start as usize;
                    for pc in 0..module.func_code(i).len() {
                        write_op_line(&mut text, &module, i, start + pc);
                    }
                    text.push_str(".end\n");
                }
                print_all(&text)
            }
            Err(e) => fail(e),
        };
    }
    match keel_assembler::disassemble(&loaded.module) {
        Ok(text) => print_all(&text),
        Err(e) => {
            output::err(&format!("error: {}: {e}\n", loaded.file));
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// Appends the `dis --verified` line of the op at module-wide index
/// `index` (in function `func`): the index, the op's byte offset in the
/// function's bytecode, and the op. Nothing for an index outside `func`.
pub(crate) fn write_op_line(
    text: &mut String,
    module: &keel_vm::VerifiedModule,
    func: usize,
    index: usize,
) {
    let Some(vf) = module.funcs().get(func) else {
        return;
    };
    let Some(pc) = index.checked_sub(vf.start as usize) else {
        return;
    };
    let (Some(op), Some(offset)) = (module.func_code(func).get(pc), vf.offsets.get(pc)) else {
        return;
    };
    let _ = writeln!(text, "    {index:>5}  @{offset:<5} {op:?}");
}

/// `dis --jit`: each function's (or only `only`'s) machine code.
fn dis_jit(file: &Path, only: Option<&str>) -> ExitCode {
    if !cfg!(target_arch = "x86_64") {
        output::err(&format!(
            "error: dis --jit lists machine code of the x86_64 JIT; this vmrun runs on {}, where there is no JIT\n",
            std::env::consts::ARCH
        ));
        return ExitCode::from(EXIT_INVALID);
    }
    let (linker, _streams) = library();
    let (module, _, file_name) = match load(file, &linker).and_then(verify_loaded) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let funcs: Vec<usize> = match only {
        None => (0..module.module().funcs.len()).collect(),
        Some(name) => match module.module().func_index(name) {
            Some(i) => vec![i],
            None => {
                output::err(&format!(
                    "error: {file_name} has no function `{name}` to list\n"
                ));
                return ExitCode::from(EXIT_INVALID);
            }
        },
    };
    let module = Arc::new(module);
    let config = Config::default().jit(keel_vm::JitMode::Eager);
    let mut instance = match Instance::new(module.clone(), &linker, config) {
        Ok(i) => i,
        Err(errors) => {
            let mut text = String::new();
            for e in errors {
                let _ = writeln!(text, "error: {e}");
            }
            output::err(&text);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let mut text = String::new();
    for f in funcs {
        let listing = instance.jit_listing(f);
        jit_listing::write_function(&mut text, &module, f, listing.as_ref());
    }
    print_all(&text)
}

fn run(args: RunArgs) -> ExitCode {
    let start = Instant::now();
    let Some(file) = args.file else {
        if std::io::stdin().is_terminal() {
            return shell::main(&args.common, &args.limits);
        }
        output::err("error: no program given (usage: vmrun FILE [ARGS...], or vmrun repl)\n");
        return ExitCode::from(EXIT_INVALID);
    };
    let (catalog, _) = library();
    let (linker, streams) = library_with(&args.common.grants());
    let (module, source, file_name) = match load(&file, &catalog).and_then(verify_loaded) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let Some(main_index) = module.module().func_index("main") else {
        output::err(&format!(
            "error: {file_name} has no `main` function to run\n"
        ));
        return ExitCode::from(EXIT_INVALID);
    };
    let wants_args = !module.module().funcs[main_index].ty.params.is_empty();
    let mut config = args.common.config();
    config.fuel = args.limits.fuel;
    let mut instance = match Instance::new(Arc::new(module), &linker, config) {
        Ok(i) => i,
        Err(errors) => {
            output::err(&link_errors(&errors));
            return ExitCode::from(EXIT_INVALID);
        }
    };
    // A timeout is an interrupt from a watchdog thread; the run notices it
    // within a fraction of a millisecond, and a read of stdin that waits
    // within one wait slice (`fd_reader`). A run blocked elsewhere outside
    // the interpreter (writing to a full pipe) cannot notice it: after a
    // grace period the watchdog ends the process itself.
    let done = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    // The watchdog's interrupt is meant for this run even if it fires
    // before the run starts (a tiny timeout).
    instance.keep_pending_interrupt(true);
    if let Some((limit, spelled)) = &args.limits.timeout {
        let handle = instance.interrupt_handle();
        let (limit, reason) = (*limit, format!("timeout of {spelled} exceeded"));
        let done = done.clone();
        let out = streams.out.clone();
        std::thread::spawn(move || {
            let (lock, cv) = &*done;
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = cv
                .wait_timeout_while(guard, limit, |finished| !*finished)
                .unwrap_or_else(|p| p.into_inner());
            if *guard {
                return;
            }
            handle.interrupt_with(reason.clone());
            let (guard, _) = cv
                .wait_timeout_while(guard, TIMEOUT_GRACE, |finished| !*finished)
                .unwrap_or_else(|p| p.into_inner());
            if !*guard {
                // Blocked: flush what was printed (unless the blocked call
                // holds the output) and stop as a trap would.
                if let Ok(mut w) = out.try_lock() {
                    let _ = w.flush();
                }
                eprintln!(
                    "error: interrupted: {reason}\n  (blocked outside the interpreter, such as writing to a full pipe, for {}ms more; vmrun stopped the process)",
                    TIMEOUT_GRACE.as_millis()
                );
                std::process::exit(i32::from(EXIT_TRAP));
            }
        });
    }
    let result = if wants_args {
        instance
            .new_str_array(&args.args)
            .and_then(|a| instance.call_index(main_index, &[a]))
    } else {
        instance.call_index(main_index, &[])
    };
    {
        let (lock, cv) = &*done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }
    let flushed = streams.flush();
    let code = match (result, flushed) {
        // A program stopped because its stdout was closed ends quietly,
        // as the tool it is piped from would.
        (Err(_), _) if streams.failure.closed() => ExitCode::from(output::EXIT_CLOSED),
        (Err(trap), _) => {
            output::err(&trap_report::render(&trap, &file_name, source.as_deref()));
            ExitCode::from(EXIT_TRAP)
        }
        (Ok(_), Err(e)) => output::write_failed(&e),
        (Ok(v), Ok(())) => ExitCode::from(v.and_then(|v| v.as_int()).map_or(0, |c| c as u8)),
    };
    if args.limits.stats {
        output::err(&stats_report(
            &instance.stats(),
            &instance.gc_stats(),
            start.elapsed(),
        ));
    }
    code
}

/// What `--stats` prints.
pub(crate) fn stats_report(
    st: &keel_vm::ExecStats,
    gc: &keel_vm::GcStats,
    wall: std::time::Duration,
) -> String {
    format!(
        "instructions executed: {}\ncalls: {}\njit loops compiled: {} (left to the interpreter: {})\njit functions compiled: {}\njit loops entered by osr: {}\njit compile time: {:.3} ms\njit code bytes: {}\ngc collections: {}\ngc minor collections: {}\ngc major collections: {}\npeak heap bytes: {}\ngc pause: {:.3} ms\ngc longest pause: {:.3} ms\nwall time: {:.3} ms\n",
        st.instructions,
        st.calls,
        st.jit_loops,
        st.jit_rejected,
        st.jit_functions,
        st.jit_osr_entries,
        st.jit_compile_ns as f64 / 1e6,
        st.jit_code_bytes,
        gc.collections,
        gc.minor_collections,
        gc.major_collections,
        gc.peak_bytes,
        gc.pause.as_secs_f64() * 1e3,
        gc.max_pause.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3
    )
}

/// How long `--timeout` waits, after interrupting, for a run blocked
/// outside the interpreter before ending the process.
const TIMEOUT_GRACE: std::time::Duration = std::time::Duration::from_millis(500);
