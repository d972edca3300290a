//! A router that can be edited while calls run (LiteLLM's `set_model_list`,
//! `add_deployment`, `upsert_deployment`, `delete_deployment`): each edit builds a new
//! [`Router`] from the current one ([`Router::with_model_list`]: deployments kept by id
//! keep their live state) and swaps it in. A call takes the router current when it starts
//! and finishes on it; edits are serialised.

use std::sync::{Arc, Mutex, RwLock};

use super::{DeploymentConfig, Router};
use crate::error::LlmError;

pub struct LiveRouter {
    current: RwLock<Arc<Router>>,
    /// Held while an edit builds its router, so two edits do not lose one another.
    edit: Mutex<()>,
}

impl LiveRouter {
    pub fn new(router: Router) -> LiveRouter {
        LiveRouter {
            current: RwLock::new(Arc::new(router)),
            edit: Mutex::new(()),
        }
    }

    /// The router calls starting now use.
    pub fn get(&self) -> Arc<Router> {
        match self.current.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Use `router` from now on (settings included).
    pub fn replace(&self, router: Router) {
        let _edit = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        self.swap(router);
    }

    fn swap(&self, router: Router) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        // Cooldowns and counters shared through Redis (`shared.rs`) stay shared.
        router.keep_sharing(&current);
        *current = Arc::new(router);
    }

    /// Apply `edit` to the current router; swap in what it builds, if anything.
    fn edit<T>(
        &self,
        edit: impl FnOnce(&Router) -> Result<Option<(Router, T)>, LlmError>,
    ) -> Result<Option<T>, LlmError> {
        let _edit = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        match edit(&self.get())? {
            Some((router, out)) => {
                self.swap(router);
                Ok(Some(out))
            }
            None => Ok(None),
        }
    }

    /// Serve `model_list` instead. Returns each deployment's id, in order.
    pub fn set_model_list(
        &self,
        model_list: Vec<DeploymentConfig>,
    ) -> Result<Vec<String>, LlmError> {
        self.edit(|r| {
            let next = r.with_model_list(model_list)?;
            let ids = next.deployment_ids();
            Ok(Some((next, ids)))
        })
        .map(Option::unwrap_or_default)
    }

    /// Add a deployment; None when one already has its id. Returns its id.
    pub fn add_deployment(&self, entry: DeploymentConfig) -> Result<Option<String>, LlmError> {
        self.edit(|r| r.with_deployment_added(entry))
    }

    /// Add or replace the deployment of the entry's id; None when it is already so.
    pub fn upsert_deployment(&self, entry: DeploymentConfig) -> Result<Option<String>, LlmError> {
        self.edit(|r| r.with_deployment_upserted(entry))
    }

    /// Remove deployment `id`; returns its entry, or None for an unknown id.
    pub fn delete_deployment(&self, id: &str) -> Result<Option<DeploymentConfig>, LlmError> {
        self.edit(|r| r.with_deployment_deleted(id))
    }
}
