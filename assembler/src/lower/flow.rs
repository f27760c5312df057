//! Structured control flow: `.if`/`.else`/`.endif`, `.while`/`.do`/
//! `.endwhile`, `.for`/`.endfor`, `.break` and `.continue`, lowered to the
//! plain jumps the verifier already checks (no opcodes of their own).
//!
//! ```text
//! .if      -> jmpifnot ELSE          .while    -> HEAD:
//! .else    -> jmp END  ELSE:         .do       -> jmpifnot END
//! .endif   -> END: (or ELSE:)        .endwhile -> jmp HEAD  END:
//!
//! .for i = A, B  -> push A|load A  store i
//!                   HEAD: load i  push B|load B  lt  jmpifnot END
//! .endfor        -> CONT: load i  push 1  add  store i  jmp HEAD  END:
//! .break         -> jmp END of the innermost loop
//! .continue      -> jmp HEAD (`.while`) or jmp CONT (`.for`)
//! ```
//!
//! Invariants: blocks nest (a directive closes or continues only the
//! innermost open block, checked here with a located error naming the
//! block's opening), every block is closed by the function's `.end`, so
//! every generated label is placed; generated instructions carry the
//! source position of the directive that made them, so verifier errors on
//! them point at the directive.

use indexmap::IndexMap;
use keel_vm::internals::isa::{Instr, Opcode, Operand};
use keel_vm::{Pos, Type};

use super::emit::{Emit, Label, Target};
use super::{Lowerer, err};
use crate::ast::{Bound, Flow, FlowKind, Name};
use crate::error::{AsmError, AsmErrorKind, Span};

/// The open blocks of a function body, innermost last.
#[derive(Default)]
pub struct Blocks {
    open: Vec<Open>,
}

struct Open {
    block: Block,
    /// The opening directive.
    directive: &'static str,
    /// Where it is.
    pos: Pos,
}

enum Block {
    /// `.if`: `next` is where a false condition goes (the `.else` branch,
    /// or the end); `end` is set by `.else`.
    If { next: Label, end: Option<Label> },
    /// `.while`: `body` once `.do` has been seen.
    While { head: Label, end: Label, body: bool },
    /// `.for` over local `var`.
    For {
        var: u32,
        head: Label,
        cont: Label,
        end: Label,
    },
}

impl Open {
    /// The directive that would close or continue this block next.
    fn expected(&self) -> &'static str {
        match self.block {
            Block::If { .. } => "`.endif`",
            Block::While { body: false, .. } => "`.do`",
            Block::While { body: true, .. } => "`.endwhile`",
            Block::For { .. } => "`.endfor`",
        }
    }
}

fn at(pos: Pos) -> String {
    format!("{}:{}", pos.line, pos.col)
}

impl<'s> Lowerer<'s, '_> {
    /// Lowers one directive into `e`.
    pub(super) fn flow(
        &mut self,
        f: &Flow<'s>,
        blocks: &mut Blocks,
        e: &mut Emit<'s>,
        locals: &IndexMap<&'s str, Type>,
    ) -> Result<(), AsmError> {
        let pos = self.pos(f.span.start);
        let directive = f.kind.directive();
        let open = |block| Open {
            block,
            directive,
            pos,
        };
        match &f.kind {
            FlowKind::If => {
                let next = e.label();
                e.jump(Opcode::JmpIfNot, Target::Generated(next), pos);
                blocks.open.push(open(Block::If { next, end: None }));
            }
            FlowKind::While => {
                let head = e.label();
                let end = e.label();
                e.place(head);
                blocks.open.push(open(Block::While {
                    head,
                    end,
                    body: false,
                }));
            }
            FlowKind::For { var, from, to } => {
                let var_ix = self.counter(locals, var)?;
                let from = self.bound(locals, from)?;
                let to = self.bound(locals, to)?;
                let head = e.label();
                let cont = e.label();
                let end = e.label();
                e.instr(&from, pos);
                e.instr(&store(var_ix), pos);
                e.place(head);
                e.instr(&load(var_ix), pos);
                e.instr(&to, pos);
                e.simple(Opcode::Lt, pos);
                e.jump(Opcode::JmpIfNot, Target::Generated(end), pos);
                blocks.open.push(open(Block::For {
                    var: var_ix,
                    head,
                    cont,
                    end,
                }));
            }
            FlowKind::Else => match blocks.top(f, ".if")? {
                Block::If {
                    next,
                    end: end @ None,
                } => {
                    let l = e.label();
                    e.jump(Opcode::Jmp, Target::Generated(l), pos);
                    e.place(*next);
                    *end = Some(l);
                }
                _ => return Err(blocks.mismatch(f)),
            },
            FlowKind::EndIf => match blocks.top(f, ".if")? {
                Block::If { next, end } => {
                    e.place(end.unwrap_or(*next));
                    blocks.open.pop();
                }
                _ => return Err(blocks.mismatch(f)),
            },
            FlowKind::Do => match blocks.top(f, ".while")? {
                Block::While {
                    end,
                    body: body @ false,
                    ..
                } => {
                    e.jump(Opcode::JmpIfNot, Target::Generated(*end), pos);
                    *body = true;
                }
                _ => return Err(blocks.mismatch(f)),
            },
            FlowKind::EndWhile => match blocks.top(f, ".while")? {
                Block::While {
                    head,
                    end,
                    body: true,
                } => {
                    e.jump(Opcode::Jmp, Target::Generated(*head), pos);
                    e.place(*end);
                    blocks.open.pop();
                }
                _ => return Err(blocks.mismatch(f)),
            },
            FlowKind::EndFor => match blocks.top(f, ".for")? {
                Block::For {
                    var,
                    head,
                    cont,
                    end,
                } => {
                    e.place(*cont);
                    e.instr(&load(*var), pos);
                    e.instr(
                        &Instr {
                            op: Opcode::PushInt,
                            operand: Operand::Int(1),
                        },
                        pos,
                    );
                    e.simple(Opcode::Add, pos);
                    e.instr(&store(*var), pos);
                    e.jump(Opcode::Jmp, Target::Generated(*head), pos);
                    e.place(*end);
                    blocks.open.pop();
                }
                _ => return Err(blocks.mismatch(f)),
            },
            FlowKind::Break | FlowKind::Continue => {
                let brk = matches!(f.kind, FlowKind::Break);
                let target = blocks.innermost_loop(f, brk)?;
                e.jump(Opcode::Jmp, Target::Generated(target), pos);
            }
        }
        Ok(())
    }

    /// The `.for` counter: an int local.
    fn counter(
        &mut self,
        locals: &IndexMap<&'s str, Type>,
        var: &Name<'s>,
    ) -> Result<u32, AsmError> {
        let i = self.local(locals, var.text, var.span)?;
        match &locals[i as usize] {
            Type::Int => Ok(i),
            t => Err(err(
                var.span,
                AsmErrorKind::BadFor(format!(
                    "`.for` counts with an int local, but `{}` is {t}",
                    var.text
                )),
            )),
        }
    }

    /// The instruction that pushes a `.for` bound.
    fn bound(
        &mut self,
        locals: &IndexMap<&'s str, Type>,
        b: &Bound<'s>,
    ) -> Result<Instr, AsmError> {
        match b {
            Bound::Int(v, _) => Ok(Instr {
                op: Opcode::PushInt,
                operand: Operand::Int(*v),
            }),
            Bound::Local(n) => {
                let i = self.local(locals, n.text, n.span)?;
                match &locals[i as usize] {
                    Type::Int => Ok(load(i)),
                    t => Err(err(
                        n.span,
                        AsmErrorKind::BadFor(format!(
                            "a `.for` bound is an int literal or an int local, but `{}` is {t}",
                            n.text
                        )),
                    )),
                }
            }
        }
    }

    /// The error for blocks still open at the function's `.end`.
    pub(super) fn unclosed(&self, blocks: &Blocks, end: Span) -> Result<(), AsmError> {
        match blocks.open.last() {
            None => Ok(()),
            Some(o) => Err(err(
                end,
                AsmErrorKind::BlockMismatch {
                    expected: o.expected().into(),
                    opened: o.directive,
                    at: at(o.pos),
                    found: "`.end`".into(),
                },
            )),
        }
    }
}

fn load(i: u32) -> Instr {
    Instr {
        op: Opcode::Load,
        operand: Operand::Local(i),
    }
}

fn store(i: u32) -> Instr {
    Instr {
        op: Opcode::Store,
        operand: Operand::Local(i),
    }
}

impl Blocks {
    /// The innermost block, which `f` must continue or close; `opener` is
    /// the directive `f` belongs to.
    fn top(&mut self, f: &Flow<'_>, opener: &str) -> Result<&mut Block, AsmError> {
        match self.open.last_mut() {
            Some(o) => Ok(&mut o.block),
            None => Err(err(
                f.span,
                AsmErrorKind::Misplaced {
                    directive: f.kind.directive(),
                    why: format!("without an open `{opener}`"),
                },
            )),
        }
    }

    /// The error for `f` where the innermost block expects something else.
    fn mismatch(&self, f: &Flow<'_>) -> AsmError {
        let o = self.open.last().expect("called with a block open");
        err(
            f.span,
            AsmErrorKind::BlockMismatch {
                expected: o.expected().into(),
                opened: o.directive,
                at: at(o.pos),
                found: format!("`{}`", f.kind.directive()),
            },
        )
    }

    /// Where `.break` (`brk`) or `.continue` goes in the innermost loop.
    fn innermost_loop(&self, f: &Flow<'_>, brk: bool) -> Result<Label, AsmError> {
        let misplaced = |why: String| {
            err(
                f.span,
                AsmErrorKind::Misplaced {
                    directive: f.kind.directive(),
                    why,
                },
            )
        };
        for o in self.open.iter().rev() {
            match o.block {
                Block::If { .. } => {}
                Block::While { body: false, .. } => {
                    return Err(misplaced(format!(
                        "in the condition of the `.while` at {} (it belongs in the body, after `.do`)",
                        at(o.pos)
                    )));
                }
                Block::While { head, end, .. } => return Ok(if brk { end } else { head }),
                Block::For { cont, end, .. } => return Ok(if brk { end } else { cont }),
            }
        }
        Err(misplaced("outside a loop (`.while` or `.for`)".into()))
    }
}
