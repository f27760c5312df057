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

/// Why a module could not be instantiated: every import the linker lacks
/// or types differently (at least one), or running out of heap for its
/// string constants. Displayed one error a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkErrors(pub Vec<LinkError>);

impl std::fmt::Display for LinkErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LinkErrors {}

impl From<Vec<LinkError>> for LinkErrors {
    fn from(errors: Vec<LinkError>) -> LinkErrors {
        LinkErrors(errors)
    }
}

/// Loads and verifies modules and creates instances with shared defaults.
///
/// ```
/// use keel_vm::{Config, Engine, Linker, Module};
/// let engine = Engine::new(Config::new().fuel(1_000_000));
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
    ) -> Result<Instance, LinkErrors> {
        Ok(Instance::new(module.clone(), linker, self.config.clone())?)
    }

    /// [`Engine::instantiate`], with `data` as the instance's host state:
    /// what host functions taking a `&mut Caller<'_, T>` reach
    /// ([`crate::Caller`]), one value per instance (per plugin, say).
    ///
    /// # Errors
    ///
    /// As [`Engine::instantiate`].
    pub fn instantiate_with<T: Send + 'static>(
        &self,
        module: &Arc<VerifiedModule>,
        linker: &Linker,
        data: T,
    ) -> Result<Instance, LinkErrors> {
        let mut instance = self.instantiate(module, linker)?;
        instance.set_data(data);
        Ok(instance)
    }
}
