//! The engine: shared configuration for loading modules and making
//! instances. Cheap to clone and share; the JIT switch will join it.

use std::sync::Arc;

use crate::bytes::DecodeError;
use crate::interp::{Config, Instance, LinkError};
use crate::module::Module;
use crate::native::Linker;
use crate::verify::{VerifiedModule, VerifyErrors, verify};

/// Why `.kbc` bytes could not become a module.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a well-formed `.kbc` file.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The module is well-formed but fails verification.
    #[error("{0}")]
    Verify(#[from] VerifyErrors),
}

/// Loads and verifies modules and creates instances with shared defaults.
///
/// ```
/// use keel_vm::{Config, Engine, Linker, Module};
/// let engine = Engine::new(Config { fuel: Some(1_000_000), ..Config::default() });
/// let bytes = Module::default().to_bytes();          // an empty module
/// let module = engine.load(&bytes).expect("valid");
/// let instance = engine.instantiate(&module, &Linker::new()).expect("links");
/// assert_eq!(instance.fuel(), Some(1_000_000));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Engine {
    config: Config,
}

impl Engine {
    /// An engine whose instances start with `config`.
    pub fn new(config: Config) -> Engine {
        Engine { config }
    }

    /// The configuration new instances get.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads and verifies `.kbc` bytes. Bytes are never trusted: loading
    /// always runs the full verifier.
    ///
    /// # Errors
    ///
    /// [`LoadError`]: malformed bytes or a failed verification.
    pub fn load(&self, kbc: &[u8]) -> Result<Arc<VerifiedModule>, LoadError> {
        Ok(self.verify(Module::from_bytes(kbc)?)?)
    }

    /// Verifies a module (from the assembler, say).
    ///
    /// # Errors
    ///
    /// Every verification failure.
    pub fn verify(&self, module: Module) -> Result<Arc<VerifiedModule>, VerifyErrors> {
        verify(module).map(Arc::new)
    }

    /// A new instance of `module`, linked against `linker`, with the
    /// engine's configuration.
    ///
    /// # Errors
    ///
    /// Every import the linker lacks or types differently.
    pub fn instantiate(
        &self,
        module: &Arc<VerifiedModule>,
        linker: &Linker,
    ) -> Result<Instance, Vec<LinkError>> {
        Instance::new(module.clone(), linker, self.config.clone())
    }
}
