//! The code of one function as it is built: bytes, the line table, and
//! jumps waiting for their targets.
//!
//! A jump names either a user label (resolved by name once the body is
//! done) or a generated label of structured control flow. Generated labels
//! have no names at all: they are not in the debug info's label list, so
//! they cannot clash with user labels, and `dis` prints their targets as it
//! prints any unnamed target (`L<offset>`, made unique against the names
//! in use), which re-assembles to the same bytes.

use keel_vm::Pos;
use keel_vm::internals::isa::{Instr, Opcode, Operand};

use crate::ast::Name;

/// A generated label: an index into [`Emit`]'s table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Where a jump goes.
pub enum Target<'s> {
    /// A label written in the source.
    User(Name<'s>),
    /// A label of structured control flow.
    Generated(Label),
}

/// The code of one function being built.
#[derive(Default)]
pub struct Emit<'s> {
    /// The encoded instructions.
    pub code: Vec<u8>,
    /// Each instruction's offset and source position.
    pub lines: Vec<(u32, Pos)>,
    /// Offsets of jump operands and where they go.
    pub fixups: Vec<(usize, Target<'s>)>,
    /// The offset of each generated label, once placed.
    generated: Vec<Option<u32>>,
}

impl<'s> Emit<'s> {
    /// The offset of the next instruction.
    pub fn here(&self) -> u32 {
        self.code.len() as u32
    }

    /// Appends `instr`, attributed to `pos` in the line table.
    pub fn instr(&mut self, instr: &Instr, pos: Pos) {
        self.lines.push((self.here(), pos));
        instr.encode(&mut self.code);
    }

    /// Appends the operand-less instruction `op`.
    pub fn simple(&mut self, op: Opcode, pos: Pos) {
        self.instr(&Instr::simple(op), pos);
    }

    /// Appends jump `op` to `target`, filled in by [`Emit::resolve`].
    pub fn jump(&mut self, op: Opcode, target: Target<'s>, pos: Pos) {
        // The target operand is the u32 right after the one-byte opcode.
        self.fixups.push((self.code.len() + 1, target));
        self.instr(
            &Instr {
                op,
                operand: Operand::Target(0),
            },
            pos,
        );
    }

    /// A new generated label, not yet placed.
    pub fn label(&mut self) -> Label {
        self.generated.push(None);
        Label(self.generated.len() - 1)
    }

    /// Places `label` at the next instruction.
    pub fn place(&mut self, label: Label) {
        self.generated[label.0] = Some(self.here());
    }

    /// Fills in every jump's target: user labels through `user` (which
    /// reports an unknown one), generated labels from where they were
    /// placed.
    pub fn resolve<E>(
        &mut self,
        mut user: impl FnMut(&Name<'s>) -> Result<u32, E>,
    ) -> Result<(), E> {
        for (at, target) in &self.fixups {
            let to = match target {
                Target::User(name) => user(name)?,
                // Every block is closed before the body ends (flow.rs
                // checks), so every generated label has been placed.
                Target::Generated(l) => self.generated[l.0].unwrap_or(0),
            };
            self.code[*at..*at + 4].copy_from_slice(&to.to_le_bytes());
        }
        Ok(())
    }
}
