//! The wiring of `vigie run` that no stage may know about: hot reload re-reads the file and
//! applies it to the running [`Engine`], answering the HTTP layer through
//! [`delivery::Reloader`](crate::delivery::Reloader). No stage imports this module.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::diff::ReloadReport;
use crate::config::Config;
use crate::delivery::{ReloadError, Reloader};
use crate::engine::{Engine, EngineError};

/// Re-reads the configuration file the engine was started with, validates it and applies it.
/// Reloads are serialised: two at once cannot interleave.
pub struct FileReloader {
    path: PathBuf,
    engine: Arc<Engine>,
    lock: Mutex<()>,
    /// Told each configuration the engine applied (the governance gate's authorisations).
    on_applied: Option<OnApplied>,
}

/// See [`FileReloader::with_on_applied`].
pub type OnApplied = Box<dyn Fn(&Config) + Send + Sync>;

impl FileReloader {
    pub fn new(path: PathBuf, engine: Arc<Engine>) -> Self {
        FileReloader {
            path,
            engine,
            lock: Mutex::new(()),
            on_applied: None,
        }
    }

    /// Calls `f` with each configuration once the engine has applied it.
    pub fn with_on_applied(mut self, f: OnApplied) -> Self {
        self.on_applied = Some(f);
        self
    }

    /// Loads, validates and applies the file.
    pub fn reload_report(&self) -> Result<ReloadReport, ReloadError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let config = Config::load(&self.path).map_err(|e| ReloadError::Invalid {
            message: format!(
                "{}: {} error{} in configuration; nothing was changed",
                e.file.display(),
                e.errors.len(),
                if e.errors.len() == 1 { "" } else { "s" }
            ),
            errors: e.errors.iter().map(ToString::to_string).collect(),
        })?;
        let applied = self.engine.apply(&config).map_err(|e| match e {
            EngineError::RestartRequired(fields) => ReloadError::Refused {
                message: format!(
                    "restart required: {} cannot change while running; nothing was changed",
                    fields.join(", ")
                ),
                errors: fields,
            },
            other => ReloadError::Failed(other.to_string()),
        })?;
        if let Some(f) = &self.on_applied {
            f(&config);
        }
        Ok(applied)
    }
}

impl Reloader for FileReloader {
    fn reload(&self) -> Result<serde_json::Value, ReloadError> {
        let report = self.reload_report()?;
        serde_json::to_value(&report).map_err(|e| ReloadError::Failed(e.to_string()))
    }
}
