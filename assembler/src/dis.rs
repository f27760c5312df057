//! The disassembler: prints a module as Keel assembly that reads like the
//! source and re-assembles to the same bytecode.
//!
//! Names come from the debug info when present (locals, labels); without
//! it locals print as `l0, l1, ...` and labels as `L<offset>`. Every import,
//! library functions included, is printed as an explicit `.import` in index
//! order, so re-assembly numbers them identically. Records print as
//! `.record` blocks in index order, array literals as written (`[1, 2]`,
//! `array<T> []` for an empty one in an instruction), and the jumps of
//! structured control flow as plain jumps to `L<offset>` labels (the
//! assembler does not name generated labels).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use keel_vm::internals::isa::{self, ArrayLit, Operand};
use keel_vm::{DecodeError, GlobalInit, Module, Type, format_float, is_name, quote};

/// `name` as printed where a name is expected. Modules read from `.kbc`
/// files hold only valid names (the reader checks), but a module built in
/// memory may hold anything: such a name is printed quoted, so the listing
/// cannot be made to show lines the bytecode does not have (it then does
/// not re-assemble, which is right: no source could have produced it).
fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    if is_name(name) {
        name.into()
    } else {
        quote(name).into()
    }
}

fn sig_params(params: &[Type]) -> String {
    params
        .iter()
        .map(Type::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Disassembles `m`.
///
/// # Errors
///
/// A [`DecodeError`] when a function's code does not decode.
pub fn disassemble(m: &Module) -> Result<String, DecodeError> {
    let mut out = String::new();
    if let Some(d) = &m.debug {
        // A comment runs to the end of the line: no control character may
        // end it early (the reader rejects them; built modules may not).
        let file: String = d
            .file
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let _ = writeln!(out, "; disassembly of {file}");
    }
    if let Some(n) = &m.name {
        let _ = writeln!(out, ".module {}", shown(n));
    }
    for im in &m.imports {
        let _ = write!(
            out,
            ".import {}({})",
            shown(&im.name),
            sig_params(&im.ty.params)
        );
        if let Some(r) = &im.ty.result {
            let _ = write!(out, " -> {r}");
        }
        out.push('\n');
    }
    for rec in &m.records {
        let _ = writeln!(out, ".record {}", shown(&rec.name));
        for (name, ty) in &rec.fields {
            let _ = writeln!(out, "    {}: {ty}", shown(name));
        }
        out.push_str(".end\n");
    }
    for g in &m.globals {
        let _ = write!(out, ".global {}: {}", shown(&g.name), g.ty);
        match &g.init {
            GlobalInit::Default => {}
            GlobalInit::Int(v) => {
                let _ = write!(out, " = {v}");
            }
            GlobalInit::Float(v) => {
                let _ = write!(out, " = {}", format_float(*v));
            }
            GlobalInit::Bool(b) => {
                let _ = write!(out, " = {b}");
            }
            GlobalInit::Str(i) => {
                let s = m.strings.get(*i as usize).map(String::as_str).unwrap_or("");
                let _ = write!(out, " = {}", quote(s));
            }
            GlobalInit::Nil => out.push_str(" = nil"),
            GlobalInit::Array(lit) => {
                let _ = write!(out, " = {}", array_lit_text(m, lit, false));
            }
        }
        out.push('\n');
    }
    // Globals are referred to by name when it is usable and unique.
    let mut global_uses: HashMap<&str, usize> = HashMap::new();
    for g in &m.globals {
        *global_uses.entry(g.name.as_str()).or_default() += 1;
    }
    let global_name = |i: u32| -> String {
        match m.globals.get(i as usize) {
            Some(g) if is_name(&g.name) && global_uses[g.name.as_str()] == 1 => g.name.clone(),
            _ => i.to_string(),
        }
    };
    for (fi, f) in m.funcs.iter().enumerate() {
        let debug = m.func_debug(fi);
        let instrs = isa::decode_code(&f.code, 0)?;
        // Local names: debug names when usable and unique, else l<i>.
        let n = f.num_locals();
        let mut names: Vec<String> = (0..n)
            .map(|i| {
                debug
                    .and_then(|d| d.local_names.get(i))
                    .filter(|s| is_name(s))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let mut seen = HashSet::new();
        for (i, name) in names.iter_mut().enumerate() {
            if name.is_empty() || !seen.insert(name.clone()) {
                let mut fresh = format!("l{i}");
                while !seen.insert(fresh.clone()) {
                    fresh.push('_');
                }
                *name = fresh;
            }
        }
        // Labels: debug labels, plus generated ones for unnamed targets.
        let mut labels: BTreeMap<u32, String> = BTreeMap::new();
        let mut taken = HashSet::new();
        if let Some(d) = debug {
            for (off, name) in &d.labels {
                if is_name(name) && taken.insert(name.clone()) {
                    labels.entry(*off).or_insert_with(|| name.clone());
                }
            }
        }
        for (_, ins) in &instrs {
            if let Operand::Target(t) = ins.operand {
                labels.entry(t).or_insert_with(|| {
                    let mut name = format!("L{t}");
                    while !taken.insert(name.clone()) {
                        name.push('_');
                    }
                    name
                });
            }
        }
        let params: Vec<String> =
            f.ty.params
                .iter()
                .enumerate()
                .map(|(i, t)| format!("{}: {t}", names[i]))
                .collect();
        let _ = write!(out, "\n.func {}({})", shown(&f.name), params.join(", "));
        if let Some(r) = &f.ty.result {
            let _ = write!(out, " -> {r}");
        }
        out.push('\n');
        for (i, t) in f.locals.iter().enumerate() {
            let _ = writeln!(out, "    .local {}: {t}", names[f.ty.params.len() + i]);
        }
        for (off, ins) in &instrs {
            if let Some(l) = labels.get(off) {
                let _ = writeln!(out, "{l}:");
            }
            let _ = write!(out, "    {}", ins.op.mnemonic());
            match &ins.operand {
                Operand::None => {
                    if ins.op == isa::Opcode::PushNil {
                        out.push_str(" nil");
                    }
                }
                Operand::Int(v) => {
                    let _ = write!(out, " {v}");
                }
                Operand::Float(v) => {
                    let _ = write!(out, " {}", format_float(*v));
                }
                Operand::Bool(b) => {
                    let _ = write!(out, " {b}");
                }
                Operand::Str(i) => {
                    let s = m.strings.get(*i as usize).map(String::as_str).unwrap_or("");
                    let _ = write!(out, " {}", quote(s));
                }
                Operand::Local(l) => match names.get(*l as usize) {
                    Some(n) => {
                        let _ = write!(out, " {n}");
                    }
                    None => {
                        let _ = write!(out, " {l}");
                    }
                },
                Operand::Global(g) => {
                    let _ = write!(out, " {}", global_name(*g));
                }
                Operand::Func(c) => {
                    let _ = write!(
                        out,
                        " {}",
                        m.callee_name(*c).map_or("<invalid>".into(), shown)
                    );
                }
                Operand::Target(t) => {
                    let _ = write!(out, " {}", labels[t]);
                }
                Operand::Type(t) => {
                    let _ = write!(out, " {t}");
                }
                Operand::MapTypes(k, v) => {
                    let _ = write!(out, " {k} {v}");
                }
                Operand::Record(r) => match m.records.get(*r as usize) {
                    Some(rec) => {
                        let _ = write!(out, " {}", shown(&rec.name));
                    }
                    None => out.push_str(" <invalid>"),
                },
                Operand::Field(r, f) => {
                    match m
                        .records
                        .get(*r as usize)
                        .and_then(|rec| rec.fields.get(*f as usize).map(|(n, _)| (rec, n)))
                    {
                        Some((rec, name)) => {
                            let _ = write!(out, " {}.{}", shown(&rec.name), shown(name));
                        }
                        None => out.push_str(" <invalid>"),
                    }
                }
                Operand::ArrayLit(lit) => {
                    let _ = write!(out, " {}", array_lit_text(m, lit, true));
                }
            }
            out.push('\n');
        }
        // A label at the very end (a target past the last instruction is
        // invalid, but print it so the text shows what the bytes say).
        if let Some(l) = labels.get(&(f.code.len() as u32)) {
            let _ = writeln!(out, "{l}:");
        }
        out.push_str(".end\n");
    }
    let exports: Vec<&str> = m
        .funcs
        .iter()
        .filter(|f| f.exported)
        .map(|f| f.name.as_str())
        .collect();
    if !exports.is_empty() {
        out.push('\n');
        for e in exports {
            let _ = writeln!(out, ".export {}", shown(e));
        }
    }
    Ok(out)
}

/// An array literal as source text: `[1, 2]`, `["a"]`; an empty one as
/// `array<T> []` in an instruction (`typed`), where the type is needed.
fn array_lit_text(m: &Module, lit: &ArrayLit, typed: bool) -> String {
    let items: Vec<String> = match lit {
        ArrayLit::Int(v) => v.iter().map(|x| x.to_string()).collect(),
        ArrayLit::Float(v) => v.iter().map(|x| format_float(*x)).collect(),
        ArrayLit::Bool(v) => v.iter().map(|b| b.to_string()).collect(),
        ArrayLit::Str(v) => v
            .iter()
            .map(|i| quote(m.strings.get(*i as usize).map(String::as_str).unwrap_or("")))
            .collect(),
        ArrayLit::Empty(_) => Vec::new(),
    };
    if items.is_empty() && typed {
        format!("array<{}> []", lit.elem())
    } else {
        format!("[{}]", items.join(", "))
    }
}
