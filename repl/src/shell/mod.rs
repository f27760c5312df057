//! The REPL's front end: rustyline with completion, highlighting and
//! history on a terminal; plain line reading from a pipe.
//!
//! Both read the same inputs (one line, or several while a `.func` is
//! open) and hand them to a [`Session`]. Piped mode prints no prompts and
//! no colours, so a session file's output is stable enough to test, and
//! exits with status 1 when any input failed.

mod helper;

use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Editor};

use crate::session::{LineLimits, Reply, Session, needs_more, pieces};
use crate::{Common, EXIT_INVALID, EXIT_TRAP, RunLimits, Streams, library, library_with, output};
use helper::KeelHelper;

/// `vmrun repl`: a session on the terminal, or over piped stdin.
pub fn main(common: &Common, limits: &RunLimits) -> ExitCode {
    let (catalog, _) = library();
    let (linker, streams) = library_with(&common.grants());
    let mut session = match Session::new(catalog, linker, common.config()) {
        Ok(s) => s,
        Err(e) => {
            output::err(&e);
            return ExitCode::from(EXIT_INVALID);
        }
    };
    session.set_limits(LineLimits {
        fuel: limits.fuel,
        timeout: limits.timeout.clone(),
        stats: limits.stats,
    });
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        interactive(session, streams)
    } else {
        piped(session, &streams)
    }
}

/// Prints a reply through the program's own buffered stdout, so program
/// output and REPL output stay in order.
///
/// # Errors
///
/// Stdout's error; the session then ends (see [`output::write_failed`]).
fn show(streams: &Streams, text: &str) -> std::io::Result<()> {
    let mut out = streams.out.lock().unwrap_or_else(|p| p.into_inner());
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Prints an input's error after what the program printed before it; the
/// session ends if stdout failed.
fn show_error(streams: &Streams, text: &str) -> Result<(), ExitCode> {
    // A line that failed because stdout was closed (its `print` trapped)
    // ends the session quietly, as every other write to stdout would.
    if streams.failure.closed() {
        return Err(ExitCode::from(output::EXIT_CLOSED));
    }
    streams.flush().map_err(|e| output::write_failed(&e))?;
    output::err(text);
    Ok(())
}

fn piped(session: Session, streams: &Streams) -> ExitCode {
    match piped_session(session, streams) {
        Ok(failed) => match streams.flush() {
            Err(e) => output::write_failed(&e),
            Ok(()) if failed => ExitCode::from(EXIT_TRAP),
            Ok(()) => ExitCode::SUCCESS,
        },
        Err(code) => code,
    }
}

/// Runs a piped session: whether any input failed, or how the process ends
/// when stdout failed.
fn piped_session(mut session: Session, streams: &Streams) -> Result<bool, ExitCode> {
    let mut failed = false;
    let mut line_no = 0u32;
    'session: loop {
        let first = line_no + 1;
        let mut input = String::new();
        loop {
            let mut bytes = Vec::new();
            let read = streams
                .input
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .read_until(b'\n', &mut bytes);
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            line_no += 1;
            match String::from_utf8(bytes) {
                Ok(l) => input.push_str(&l),
                Err(_) => {
                    show_error(
                        streams,
                        &format!("error: <repl>:{line_no}: the line is not valid UTF-8\n"),
                    )?;
                    failed = true;
                    continue 'session;
                }
            }
            if !needs_more(&input) {
                break;
            }
        }
        if input.is_empty() {
            break;
        }
        match eval_all(&mut session, streams, &input, first, false, None)? {
            Evaluated::Quit => break,
            Evaluated::Failed => failed = true,
            Evaluated::Ok => {}
        }
    }
    Ok(failed)
}

/// How an input went.
enum Evaluated {
    Ok,
    /// A piece failed (and the pieces after it were not run).
    Failed,
    Quit,
}

/// Evaluates an input (one line, a definition, or a paste of several)
/// piece by piece ([`pieces`]), showing each reply as it comes, and the
/// `--stats` report of each line run. The first failing piece stops the
/// input: what follows it may depend on it.
fn eval_all(
    session: &mut Session,
    streams: &Streams,
    input: &str,
    first: u32,
    colour: bool,
    running: Option<&Mutex<keel_vm::InterruptHandle>>,
) -> Result<Evaluated, ExitCode> {
    for (at, piece) in pieces(input) {
        // Ctrl-C reaches the instance this piece runs on.
        if let Some(r) = running {
            *r.lock().unwrap_or_else(|p| p.into_inner()) = session.interrupt_handle();
        }
        let reply = session.eval(&piece, first + at);
        if let Some(stats) = session.take_stats() {
            streams.flush().map_err(|e| output::write_failed(&e))?;
            output::err(&stats);
        }
        match reply {
            Ok(Reply::Show(text)) => {
                show(streams, &text).map_err(|e| output::write_failed(&e))?;
            }
            Ok(Reply::Quit) => return Ok(Evaluated::Quit),
            Err(e) if colour => {
                show_error(streams, &output::paint(&e))?;
                return Ok(Evaluated::Failed);
            }
            Err(e) => {
                show_error(streams, &e)?;
                return Ok(Evaluated::Failed);
            }
        }
    }
    Ok(Evaluated::Ok)
}

/// Where history is kept: `$XDG_STATE_HOME/keel/history`, else
/// `~/.local/state/keel/history`.
fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("keel").join("history"))
}

fn interactive(mut session: Session, streams: Streams) -> ExitCode {
    let config = rustyline::Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(10_000)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut rl: Editor<KeelHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            output::err(&format!("error: cannot open the terminal: {e}\n"));
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let names = Rc::new(RefCell::new(session.names()));
    rl.set_helper(Some(KeelHelper::new(names.clone())));
    let history = history_path();
    if let Some(h) = &history {
        // A missing history file is the normal first run.
        let _ = rl.load_history(h);
    }
    // Ctrl-C while a line runs interrupts it (at a prompt the terminal is
    // raw, so rustyline sees the key instead).
    let running = Arc::new(Mutex::new(session.interrupt_handle()));
    {
        let running = running.clone();
        let _ = ctrlc::set_handler(move || {
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .interrupt()
        });
    }
    if let Err(e) = show(
        &streams,
        "Keel REPL. `:help` lists instructions and commands; `:quit` or Ctrl-D leaves.\n",
    ) {
        return output::write_failed(&e);
    }
    let mut line_no = 0u32;
    'session: loop {
        let first = line_no + 1;
        let mut input = String::new();
        loop {
            let prompt = if input.is_empty() { "keel> " } else { "....> " };
            match rl.readline(prompt) {
                Ok(line) => {
                    // A paste (or a recalled definition) is several lines.
                    line_no += line.split('\n').count() as u32;
                    input.push_str(&line);
                    input.push('\n');
                    if !needs_more(&input) {
                        break;
                    }
                }
                // Ctrl-C at a prompt drops what was typed, as shells do.
                Err(ReadlineError::Interrupted) => continue 'session,
                Err(ReadlineError::Eof) if input.is_empty() => break 'session,
                // Ctrl-D inside a definition: evaluate it, so the error
                // says what is missing.
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    output::err(&format!("error: {e}\n"));
                    break 'session;
                }
            }
        }
        // The whole input is one history entry: a definition comes back
        // whole, to edit and re-enter.
        let entry = input.trim_end_matches('\n');
        if !entry.trim().is_empty() {
            let _ = rl.add_history_entry(entry);
        }
        match eval_all(
            &mut session,
            &streams,
            &input,
            first,
            output::colour(),
            Some(&running),
        ) {
            Ok(Evaluated::Quit) => break,
            Ok(_) => {}
            Err(code) => {
                save_history(&mut rl, history.as_deref());
                return code;
            }
        }
        *names.borrow_mut() = session.names();
    }
    save_history(&mut rl, history.as_deref());
    match streams.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::write_failed(&e),
    }
}

fn save_history(rl: &mut Editor<KeelHelper, DefaultHistory>, history: Option<&std::path::Path>) {
    if let Some(h) = history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = rl.save_history(h) {
            output::err(&format!(
                "warning: cannot save history to {}: {e}\n",
                h.display()
            ));
        }
    }
}
