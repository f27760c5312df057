//! The `.kbc` binary container: reading and writing.
//!
//! Layout (all integers unsigned LEB128 unless noted; see `spec/kbc.md`):
//!
//! ```text
//! magic "KEEL" | version u16 LE | flags u16 LE (bit 0: debug section)
//! name?  | strings | records | imports | globals | funcs | [debug]
//! ```
//!
//! The reader checks structure only (lengths, tags, UTF-8, no trailing
//! bytes) and that every name is a name of the assembly syntax
//! ([`super::is_name`]); whether indices and code make sense is the
//! verifier's job.

use super::names::is_name;
use super::{DebugInfo, Func, FuncDebug, Global, GlobalInit, Import, Module, Pos, RecordDef};
use crate::bytes::{DecodeError, DecodeErrorKind, Reader, Writer, is_field_name};

/// The four bytes every `.kbc` file starts with.
pub const MAGIC: [u8; 4] = *b"KEEL";
/// The format version this build reads and writes.
/// Version 2 added record types, function types, `strbuf`, array literals
/// and the records section; version 1 files are refused.
pub const FORMAT_VERSION: u16 = 2;

const FLAG_DEBUG: u16 = 1;

const INIT_DEFAULT: u8 = 0;
const INIT_INT: u8 = 1;
const INIT_FLOAT: u8 = 2;
const INIT_BOOL: u8 = 3;
const INIT_STR: u8 = 4;
const INIT_NIL: u8 = 5;
const INIT_ARRAY: u8 = 6;

impl Module {
    /// Serializes the module to `.kbc` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(&MAGIC);
        w.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let flags = if self.debug.is_some() { FLAG_DEBUG } else { 0 };
        w.extend_from_slice(&flags.to_le_bytes());
        match &self.name {
            Some(n) => {
                w.push(1);
                w.string(n);
            }
            None => w.push(0),
        }
        w.uleb(self.strings.len() as u64);
        for s in &self.strings {
            w.string(s);
        }
        w.uleb(self.records.len() as u64);
        for rec in &self.records {
            w.string(&rec.name);
            w.uleb(rec.fields.len() as u64);
            for (name, ty) in &rec.fields {
                w.string(name);
                w.ty(ty);
            }
        }
        w.uleb(self.imports.len() as u64);
        for im in &self.imports {
            w.string(&im.name);
            w.functype(&im.ty);
        }
        w.uleb(self.globals.len() as u64);
        for g in &self.globals {
            w.string(&g.name);
            w.ty(&g.ty);
            match &g.init {
                GlobalInit::Default => w.push(INIT_DEFAULT),
                GlobalInit::Int(v) => {
                    w.push(INIT_INT);
                    w.sleb(*v);
                }
                GlobalInit::Float(v) => {
                    w.push(INIT_FLOAT);
                    w.extend_from_slice(&v.to_le_bytes());
                }
                GlobalInit::Bool(b) => {
                    w.push(INIT_BOOL);
                    w.push(u8::from(*b));
                }
                GlobalInit::Str(i) => {
                    w.push(INIT_STR);
                    w.uleb(u64::from(*i));
                }
                GlobalInit::Nil => w.push(INIT_NIL),
                GlobalInit::Array(lit) => {
                    w.push(INIT_ARRAY);
                    w.array_lit(lit);
                }
            }
        }
        w.uleb(self.funcs.len() as u64);
        for f in &self.funcs {
            w.string(&f.name);
            w.push(u8::from(f.exported));
            w.functype(&f.ty);
            w.uleb(f.locals.len() as u64);
            for t in &f.locals {
                w.ty(t);
            }
            w.uleb(f.code.len() as u64);
            w.extend_from_slice(&f.code);
        }
        if let Some(d) = &self.debug {
            w.string(&d.file);
            // One entry per function, so the count is implied.
            for fd in &d.funcs {
                w.uleb(u64::from(fd.pos.line));
                w.uleb(u64::from(fd.pos.col));
                w.uleb(fd.local_names.len() as u64);
                for n in &fd.local_names {
                    w.string(n);
                }
                w.uleb(fd.labels.len() as u64);
                for (off, n) in &fd.labels {
                    w.uleb(u64::from(*off));
                    w.string(n);
                }
                w.uleb(fd.lines.len() as u64);
                let mut prev = 0u32;
                for (off, pos) in &fd.lines {
                    // Offsets ascend, so store deltas.
                    w.uleb(u64::from(off.wrapping_sub(prev)));
                    w.uleb(u64::from(pos.line));
                    w.uleb(u64::from(pos.col));
                    prev = *off;
                }
            }
        }
        w
    }

    /// Parses `.kbc` bytes. The result is not verified.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] with the byte offset of the first problem: bad
    /// magic, unsupported version, truncation, malformed numbers, types or
    /// strings, or trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Module, DecodeError> {
        let mut r = Reader::new(bytes, 0);
        let magic = r
            .take(4, "magic number")
            .map_err(|_| r.err_at(0, DecodeErrorKind::BadMagic))?;
        if magic != MAGIC {
            return Err(r.err_at(0, DecodeErrorKind::BadMagic));
        }
        let version = r.u16_le("format version")?;
        if version != FORMAT_VERSION {
            return Err(r.err_at(
                4,
                DecodeErrorKind::UnsupportedVersion {
                    found: version,
                    supported: FORMAT_VERSION,
                },
            ));
        }
        let flags = r.u16_le("flags")?;
        if flags & !FLAG_DEBUG != 0 {
            return Err(r.err_at(
                6,
                DecodeErrorKind::BadByte {
                    what: "flags",
                    byte: flags as u8,
                },
            ));
        }
        let name = match r.u8("module name flag")? {
            0 => None,
            1 => Some(read_name(&mut r, "module name")?),
            b => {
                return Err(r.err_at(
                    r.pos() - 1,
                    DecodeErrorKind::BadByte {
                        what: "module name flag",
                        byte: b,
                    },
                ));
            }
        };
        let n = r.count("string", 1)?;
        let mut strings = Vec::with_capacity(n);
        for _ in 0..n {
            strings.push(r.string("string constant")?);
        }
        let n = r.count("record", 2)?;
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.record_name()?;
            let nf = r.count("field", 2)?;
            let mut fields = Vec::with_capacity(nf);
            for _ in 0..nf {
                let field = r.checked_name("field name", is_field_name)?;
                fields.push((field, r.ty()?));
            }
            records.push(RecordDef { name, fields });
        }
        let n = r.count("import", 3)?;
        let mut imports = Vec::with_capacity(n);
        for _ in 0..n {
            let name = read_name(&mut r, "import name")?;
            let ty = r.functype()?;
            imports.push(Import { name, ty });
        }
        let n = r.count("global", 3)?;
        let mut globals = Vec::with_capacity(n);
        for _ in 0..n {
            let name = read_name(&mut r, "global name")?;
            let ty = r.ty()?;
            let init = match r.u8("global initializer")? {
                INIT_DEFAULT => GlobalInit::Default,
                INIT_INT => GlobalInit::Int(r.sleb("global initializer")?),
                INIT_FLOAT => GlobalInit::Float(r.f64_le("global initializer")?),
                INIT_BOOL => match r.u8("global initializer")? {
                    0 => GlobalInit::Bool(false),
                    1 => GlobalInit::Bool(true),
                    b => {
                        return Err(r.err_at(
                            r.pos() - 1,
                            DecodeErrorKind::BadByte {
                                what: "bool",
                                byte: b,
                            },
                        ));
                    }
                },
                INIT_STR => GlobalInit::Str(r.u32("global initializer")?),
                INIT_NIL => GlobalInit::Nil,
                INIT_ARRAY => GlobalInit::Array(r.array_lit()?),
                b => {
                    return Err(r.err_at(
                        r.pos() - 1,
                        DecodeErrorKind::BadByte {
                            what: "global initializer",
                            byte: b,
                        },
                    ));
                }
            };
            globals.push(Global { name, ty, init });
        }
        let n = r.count("function", 5)?;
        let mut funcs = Vec::with_capacity(n);
        for _ in 0..n {
            let name = read_name(&mut r, "function name")?;
            let exported = match r.u8("export flag")? {
                0 => false,
                1 => true,
                b => {
                    return Err(r.err_at(
                        r.pos() - 1,
                        DecodeErrorKind::BadByte {
                            what: "export flag",
                            byte: b,
                        },
                    ));
                }
            };
            let ty = r.functype()?;
            let nl = r.count("local", 1)?;
            let mut locals = Vec::with_capacity(nl);
            for _ in 0..nl {
                locals.push(r.ty()?);
            }
            let len = r.count("code byte", 1)?;
            let code = r.take(len, "function code")?.to_vec();
            funcs.push(Func {
                name,
                ty,
                locals,
                exported,
                code,
            });
        }
        let debug = if flags & FLAG_DEBUG != 0 {
            let at = r.pos();
            let file = r.string("debug file name")?;
            if file.chars().any(char::is_control) {
                return Err(r.err_at(
                    at,
                    DecodeErrorKind::BadDebugInfo(format!(
                        "source file name {} contains a control character",
                        crate::display::quote(&file)
                    )),
                ));
            }
            let mut dfuncs = Vec::with_capacity(funcs.len());
            for _ in 0..funcs.len() {
                let line = r.u32("debug position")?;
                let col = r.u32("debug position")?;
                let n = r.count("local name", 1)?;
                let mut local_names = Vec::with_capacity(n);
                for _ in 0..n {
                    local_names.push(read_name(&mut r, "local name")?);
                }
                let n = r.count("label", 2)?;
                let mut labels = Vec::with_capacity(n);
                for _ in 0..n {
                    let off = r.u32("label offset")?;
                    labels.push((off, read_name(&mut r, "label name")?));
                }
                let n = r.count("line entry", 3)?;
                let mut lines = Vec::with_capacity(n);
                let mut prev = 0u32;
                for _ in 0..n {
                    let delta = r.u32("line table")?;
                    let off = prev.checked_add(delta).ok_or_else(|| {
                        r.err(DecodeErrorKind::BadDebugInfo(
                            "line table offset overflows".into(),
                        ))
                    })?;
                    let line = r.u32("line table")?;
                    let col = r.u32("line table")?;
                    lines.push((off, Pos { line, col }));
                    prev = off;
                }
                dfuncs.push(FuncDebug {
                    pos: Pos { line, col },
                    local_names,
                    labels,
                    lines,
                });
            }
            Some(DebugInfo {
                file,
                funcs: dfuncs,
            })
        } else {
            None
        };
        if !r.at_end() {
            return Err(r.err(DecodeErrorKind::TrailingBytes(r.remaining())));
        }
        Ok(Module {
            name,
            strings,
            records,
            imports,
            globals,
            funcs,
            debug,
        })
    }
}

/// Reads a string that must be a name of the assembly syntax, so that it
/// prints as one plain token wherever it is shown.
fn read_name(r: &mut Reader<'_>, what: &'static str) -> Result<String, DecodeError> {
    r.checked_name(what, is_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::ArrayLit;
    use crate::types::{FuncType, Type};

    fn sample() -> Module {
        Module {
            name: Some("demo".into()),
            strings: vec!["hi".into(), "é".into()],
            records: vec![RecordDef {
                name: "Node".into(),
                fields: vec![
                    ("left".into(), Type::record("Node")),
                    (
                        "f".into(),
                        Type::func(FuncType::new(vec![Type::Int], Some(Type::StrBuf))),
                    ),
                ],
            }],
            imports: vec![Import {
                name: "host.log".into(),
                ty: FuncType::new(vec![Type::Str], None),
            }],
            globals: vec![
                Global {
                    name: "total".into(),
                    ty: Type::Int,
                    init: GlobalInit::Int(-3),
                },
                Global {
                    name: "x".into(),
                    ty: Type::Float,
                    init: GlobalInit::Float(0.5),
                },
                Global {
                    name: "t".into(),
                    ty: Type::array(Type::Str),
                    init: GlobalInit::Array(ArrayLit::Str(vec![1, 0])),
                },
            ],
            funcs: vec![Func {
                name: "main".into(),
                ty: FuncType::default(),
                locals: vec![Type::Int],
                exported: true,
                code: vec![0x00, 0x59],
            }],
            debug: Some(DebugInfo {
                file: "demo.kasm".into(),
                funcs: vec![FuncDebug {
                    pos: Pos { line: 1, col: 1 },
                    local_names: vec!["i".into()],
                    labels: vec![(1, "done".into())],
                    lines: vec![(0, Pos { line: 2, col: 5 }), (1, Pos { line: 3, col: 5 })],
                }],
            }),
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let bytes = m.to_bytes();
        assert_eq!(Module::from_bytes(&bytes).unwrap(), m);
        let s = m.stripped();
        assert_eq!(Module::from_bytes(&s.to_bytes()).unwrap(), s);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                Module::from_bytes(&bytes[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
    }

    #[test]
    fn every_name_must_be_a_name_located_at_its_string() {
        type Edit = fn(&mut Module, &str);
        let edits: [(&str, Edit); 6] = [
            ("module name", |m, n| m.name = Some(n.into())),
            ("import name", |m, n| m.imports[0].name = n.into()),
            ("global name", |m, n| m.globals[1].name = n.into()),
            ("function name", |m, n| m.funcs[0].name = n.into()),
            ("local name", |m, n| {
                m.debug.as_mut().unwrap().funcs[0].local_names[0] = n.into();
            }),
            ("label name", |m, n| {
                m.debug.as_mut().unwrap().funcs[0].labels[0].1 = n.into();
            }),
        ];
        for (what, edit) in edits {
            for bad in [
                "main\n    push \"EVIL\"",
                "nil",
                "1x",
                "",
                "a..b",
                "\u{1b}[2J",
            ] {
                let mut m = sample();
                edit(&mut m, bad);
                let bytes = m.to_bytes();
                let e = Module::from_bytes(&bytes).unwrap_err();
                assert_eq!(
                    e.kind,
                    DecodeErrorKind::BadName {
                        what,
                        name: bad.into()
                    },
                    "{what} {bad:?}"
                );
                // The offset is that of the string: its length, then it.
                assert_eq!(bytes[e.offset] as usize, bad.len(), "{what} {bad:?}");
                assert_eq!(&bytes[e.offset + 1..][..bad.len()], bad.as_bytes());
                assert!(!e.to_string().contains('\n'), "{e}");
            }
            // A valid dotted name is fine everywhere.
            let mut m = sample();
            edit(&mut m, "ok.name_2");
            assert_eq!(Module::from_bytes(&m.to_bytes()).unwrap(), m);
        }
        let mut m = sample();
        m.funcs[0].name = "main\nfake".into();
        assert_eq!(
            Module::from_bytes(&m.to_bytes()).unwrap_err().to_string(),
            "invalid bytecode at byte 91: invalid function name \"main\\nfake\": expected a name \
             (dot-separated parts of ASCII letters, digits and `_`, not starting with a digit, \
             and not true, false, nil, inf or nan)"
        );
        let mut m = sample();
        m.debug.as_mut().unwrap().file = "a\nb.kasm".into();
        let e = Module::from_bytes(&m.to_bytes()).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::BadDebugInfo(_)), "{e}");
    }

    #[test]
    fn bad_magic_version_and_trailing_bytes() {
        let mut bytes = sample().to_bytes();
        assert_eq!(
            Module::from_bytes(b"ELF\x7f").unwrap_err().kind,
            DecodeErrorKind::BadMagic
        );
        bytes[4] = 9;
        let e = Module::from_bytes(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid bytecode at byte 4: unsupported .kbc format version 9 (this build reads version 2)"
        );
        // A file of the previous version says how to get a current one.
        bytes[4] = 1;
        assert_eq!(
            Module::from_bytes(&bytes).unwrap_err().to_string(),
            "invalid bytecode at byte 4: unsupported .kbc format version 1 (this build reads \
             version 2; assemble the source again with this build)"
        );
        bytes[4] = 2;
        bytes.push(0);
        assert!(matches!(
            Module::from_bytes(&bytes).unwrap_err().kind,
            DecodeErrorKind::TrailingBytes(1)
        ));
    }
}
