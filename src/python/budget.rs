//! Budget policies for Python (`llmswitch.budgets`): add, remove, status, and delivery of
//! alerts to their callbacks.
//!
//! Alerts are queued by the core when a call settles (on whatever thread that happens) and
//! delivered here, on a Python thread holding the GIL, right after an llmswitch call
//! returns to Python (`completion`, `acompletion` when its result is handed over, a
//! stream's last chunk or close). The core never holds Python objects; the callbacks
//! live in this module, keyed by budget name and threshold.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use super::spend::{spend_error, time_from_py};
use crate::budget::manager::{self, BudgetManager, ManagerError, ManagerStore, UserBudget};
use crate::budget::{self, Action, AlertEvent, BudgetSpec, DowngradeTo, Period, Scope};
use crate::spend::{self, clock};

/// Budget name → [(index of the alert action, callback)].
static CALLBACKS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

fn callbacks(py: Python<'_>) -> &Bound<'_, PyDict> {
    CALLBACKS
        .get_or_init(py, || PyDict::new(py).unbind())
        .bind(py)
}

fn action_from_py(
    item: &Bound<'_, PyAny>,
    index: usize,
    alerts: &mut Vec<(usize, Py<PyAny>)>,
) -> PyResult<Action> {
    let d = item.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(
            "actions are made with llmswitch.budgets.block(), downgrade() and alert()",
        )
    })?;
    let kind: String = d
        .get_item("action")?
        .ok_or_else(|| PyKeyError::new_err("action"))?
        .extract()?;
    let at: f64 = match d.get_item("at")? {
        Some(v) if !v.is_none() => v.extract()?,
        _ => 1.0,
    };
    Ok(match kind.as_str() {
        "block" => Action::Block { at },
        "downgrade" => {
            let to = d.get_item("to")?.ok_or_else(|| PyKeyError::new_err("to"))?;
            let to = if let Ok(model) = to.extract::<String>() {
                DowngradeTo::model(model)
            } else {
                let map: Vec<(String, String)> = to
                    .cast::<PyDict>()
                    .map_err(|_| {
                        PyTypeError::new_err(
                            "downgrade(to=...) takes a model string or a dict {model: cheaper_model}",
                        )
                    })?
                    .iter()
                    .map(|(k, v)| Ok((k.extract()?, v.extract()?)))
                    .collect::<PyResult<_>>()?;
                DowngradeTo { map, default: None }
            };
            Action::Downgrade { at, to }
        }
        "alert" => {
            let callback = d
                .get_item("callback")?
                .ok_or_else(|| PyKeyError::new_err("callback"))?;
            if !callback.is_callable() {
                return Err(PyTypeError::new_err("alert(callback=...) must be callable"));
            }
            alerts.push((index, callback.unbind()));
            Action::Alert { at }
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown budget action {other:?}: use block, downgrade or alert"
            )))
        }
    })
}

/// Add (or replace) a budget. See ``llmswitch.budgets.add``.
///
/// Args:
///     limit: USD per period.
///     scope: ``"global"``, ``"user"``, ``"project"``, ``"key"`` or ``"tag"``.
///     id: the user/project/key/tag counted; None: each one separately.
///     period: ``"daily"``, ``"weekly"``, ``"monthly"``, ``"yearly"``, a length such as
///         ``"30d"``/``"1h"``/``"90s"``, or None for a total that never resets.
///     actions: made with ``block()``, ``downgrade()`` and ``alert()``; default: block
///         at 100 %.
///     name: unique name; default ``"<scope>:<id or *>:<period>"``.
///     start: where fixed-length windows start (default: now).
///
/// Returns:
///     The budget's name.
///
/// Raises:
///     ValueError: for an unknown scope or period, or a bad limit or threshold.
#[pyfunction]
#[pyo3(signature = (limit, scope="global", id=None, period=None, actions=None, name=None, start=None))]
#[allow(clippy::too_many_arguments)]
pub fn _budget_add(
    py: Python<'_>,
    limit: f64,
    scope: &str,
    id: Option<String>,
    period: Option<&str>,
    actions: Option<&Bound<'_, PyList>>,
    name: Option<String>,
    start: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let scope = Scope::parse(scope).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown budget scope {scope:?}: use global, user, project, key or tag"
        ))
    })?;
    let period = match period {
        Some(p) => Period::parse(p).map_err(|e| PyValueError::new_err(e.to_string()))?,
        None => Period::Total,
    };
    let mut spec = BudgetSpec::new(scope, id.as_deref(), limit, period);
    if let Some(n) = name {
        spec.name = n;
    }
    spec.start = time_from_py(start)?;
    let mut alerts = Vec::new();
    if let Some(list) = actions {
        spec.actions = list
            .iter()
            .enumerate()
            .map(|(i, a)| action_from_py(&a, i, &mut alerts))
            .collect::<PyResult<_>>()?;
    }
    let now = clock::now();
    let registry = budget::global();
    let name = spec.name.clone();
    py.detach(|| -> PyResult<()> {
        let seed = budget::seed_from_ledger(&spec, now, spend::ledger()).map_err(spend_error)?;
        registry
            .add(spec, now, &seed)
            .map_err(PyValueError::new_err)
    })?;
    let cbs = callbacks(py);
    if alerts.is_empty() {
        cbs.del_item(&name).or_else(|e| {
            if e.is_instance_of::<PyKeyError>(py) {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    } else {
        cbs.set_item(&name, alerts)?;
    }
    Ok(name)
}

/// Remove a budget by name; returns whether it existed.
#[pyfunction]
#[pyo3(signature = (name))]
pub fn _budget_remove(py: Python<'_>, name: &str) -> PyResult<bool> {
    let cbs = callbacks(py);
    if cbs.contains(name)? {
        cbs.del_item(name)?;
    }
    Ok(budget::global().remove(name))
}

/// Remove every budget.
#[pyfunction]
pub fn _budget_clear(py: Python<'_>) {
    callbacks(py).clear();
    budget::global().clear();
}

/// Set a budget's spend in the current period back to zero; returns whether it exists.
///
/// Args:
///     name: the budget.
///     id: one member only (a user of a per-user budget).
#[pyfunction]
#[pyo3(signature = (name, id=None))]
pub fn _budget_reset(name: &str, id: Option<&str>) -> bool {
    budget::global().reset(name, id)
}

/// Every budget's spend, reservations and current period, as dicts.
#[pyfunction]
pub fn _budget_status<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for s in budget::global().status(clock::now()) {
        let d = PyDict::new(py);
        d.set_item("budget", &s.budget)?;
        d.set_item("scope", s.scope.as_str())?;
        d.set_item(
            "id",
            (s.scope != Scope::Global).then_some(s.member.as_str()),
        )?;
        d.set_item("limit", s.limit)?;
        d.set_item("spent", s.spent)?;
        d.set_item("reserved", s.reserved)?;
        d.set_item("remaining", (s.limit - s.spent - s.reserved).max(0.0))?;
        d.set_item("period", s.period.to_string())?;
        d.set_item("period_start", window_edge(s.window_start))?;
        d.set_item("period_end", window_edge(s.window_end))?;
        out.append(d)?;
    }
    Ok(out)
}

fn window_edge(t: clock::Micros) -> Option<f64> {
    (t != clock::Micros::MIN && t != clock::Micros::MAX).then(|| clock::to_secs_f64(t))
}

fn event_to_py<'py>(py: Python<'py>, e: &AlertEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("budget", &e.budget)?;
    d.set_item("scope", e.scope.as_str())?;
    d.set_item(
        "id",
        (e.scope != Scope::Global).then_some(e.member.as_str()),
    )?;
    d.set_item("threshold", e.threshold)?;
    d.set_item("limit", e.limit)?;
    d.set_item("spent", e.spent)?;
    d.set_item("period", e.period.to_string())?;
    d.set_item("period_start", window_edge(e.window_start))?;
    d.set_item("period_end", window_edge(e.window_end))?;
    d.set_item("at", clock::to_secs_f64(e.at))?;
    Ok(d)
}

/// Call the alert callbacks of the threshold crossings queued so far. A callback that
/// raises is reported through ``sys.unraisablehook`` and does not fail the call.
pub fn deliver_alerts(py: Python<'_>) {
    // The response cache's warnings (a Redis outage) are delivered at the same points.
    super::cache::deliver_warnings(py);
    let registry = budget::global();
    if !registry.has_alerts() {
        return;
    }
    let events = registry.take_alerts();
    let cbs = callbacks(py);
    let mut pending: HashMap<String, Vec<(usize, Py<PyAny>)>> = HashMap::new();
    for e in &events {
        let list = pending.entry(e.budget.clone()).or_insert_with(|| {
            cbs.get_item(&e.budget)
                .ok()
                .flatten()
                .and_then(|l| l.extract().ok())
                .unwrap_or_default()
        });
        for (action, cb) in list.iter() {
            if *action != e.action {
                continue;
            }
            let result = event_to_py(py, e).and_then(|d| cb.bind(py).call1((d,)));
            if let Err(err) = result {
                err.write_unraisable(py, Some(cb.bind(py)));
            }
        }
    }
}

/// Deliver the alerts queued so far (they are also delivered after every call).
#[pyfunction]
pub fn _budget_deliver_alerts(py: Python<'_>) {
    deliver_alerts(py);
}

// ---------------------------------------------------------------------------------------
// LiteLLM's BudgetManager
// ---------------------------------------------------------------------------------------

fn manager_error(e: ManagerError) -> PyErr {
    match e {
        ManagerError::UnknownUser(_) => PyKeyError::new_err(e.to_string()),
        ManagerError::Duration(_) => PyValueError::new_err(e.to_string()),
        ManagerError::Store { .. } => pyo3::exceptions::PyOSError::new_err(e.to_string()),
    }
}

fn user_to_py<'py>(py: Python<'py>, b: &UserBudget) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, b).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn now_secs() -> f64 {
    clock::to_secs_f64(clock::now())
}

/// Per-user budgets that the caller checks and updates, as LiteLLM's ``BudgetManager``:
/// ``create_budget``, ``projected_cost``, ``update_cost``, ``get_current_cost``,
/// ``get_total_budget``, ``is_valid_user``, ``get_users``, ``reset_cost``,
/// ``update_budget_all_users`` and ``save_data``.
///
/// Args:
///     project_name: the project (SQLite keeps several projects in one file).
///     client_type: ``"local"`` (LiteLLM's ``user_cost.json`` file), ``"sqlite"``, or
///         ``"memory"`` (no persistence). LiteLLM's ``"hosted"`` is not supported.
///     api_base: accepted for LiteLLM compatibility; unused.
///     headers: accepted for LiteLLM compatibility; unused.
///     path: the file (default ``user_cost.json`` / ``user_cost.sqlite`` in the working
///         directory).
///
/// Raises:
///     ValueError: for an unknown ``client_type``.
///     OSError: if the file exists but cannot be read.
#[pyclass(module = "llmswitch._llmswitch", name = "BudgetManager")]
pub struct PyBudgetManager {
    inner: Mutex<BudgetManager>,
    client_type: String,
}

impl PyBudgetManager {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, BudgetManager>> {
        self.inner
            .lock()
            .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("budget manager poisoned"))
    }

    fn save(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock()?.save().map_err(manager_error))
    }

    fn user_result<'py>(&self, py: Python<'py>, user: &str) -> PyResult<Bound<'py, PyDict>> {
        let m = self.lock()?;
        let b = m
            .users
            .get(user)
            .ok_or_else(|| manager_error(ManagerError::UnknownUser(user.to_owned())))?;
        let d = PyDict::new(py);
        d.set_item("user", user_to_py(py, b)?)?;
        Ok(d)
    }
}

#[pymethods]
impl PyBudgetManager {
    #[new]
    #[pyo3(signature = (project_name, client_type="local", api_base=None, headers=None, path=None))]
    fn new(
        py: Python<'_>,
        project_name: &str,
        client_type: &str,
        api_base: Option<&str>,
        headers: Option<&Bound<'_, PyAny>>,
        path: Option<PathBuf>,
    ) -> PyResult<Self> {
        let _ = (api_base, headers);
        let store = match client_type {
            "local" => ManagerStore::Json(path.unwrap_or_else(|| "user_cost.json".into())),
            "sqlite" => ManagerStore::Sqlite(path.unwrap_or_else(|| "user_cost.sqlite".into())),
            "memory" => ManagerStore::Memory,
            "hosted" => {
                return Err(PyValueError::new_err(
                    "client_type=\"hosted\" (LiteLLM's hosted budget service) is not supported: use \"local\" (a JSON file) or \"sqlite\"",
                ))
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown client_type {other:?}: use \"local\", \"sqlite\" or \"memory\""
                )))
            }
        };
        let inner = py
            .detach(|| BudgetManager::open(project_name, store))
            .map_err(manager_error)?;
        Ok(PyBudgetManager {
            inner: Mutex::new(inner),
            client_type: client_type.to_owned(),
        })
    }

    /// The project's name.
    #[getter]
    fn project_name(&self) -> PyResult<String> {
        Ok(self.lock()?.project_name.clone())
    }

    /// Where the users are kept: ``"local"``, ``"sqlite"`` or ``"memory"``.
    #[getter]
    fn client_type(&self) -> String {
        self.client_type.clone()
    }

    /// A copy of every user's entry (``total_budget``, ``current_cost``, ``model_cost``,
    /// ``duration`` in days, ``created_at``, ``last_updated_at``).
    #[getter]
    fn user_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = self.lock()?;
        let d = PyDict::new(py);
        for (u, b) in &m.users {
            d.set_item(u, user_to_py(py, b)?)?;
        }
        Ok(d)
    }

    /// Read the users from the file again.
    ///
    /// Raises:
    ///     OSError: if the file cannot be read.
    fn load_data(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.lock()?.load().map_err(manager_error))
    }

    /// Write every user to the file.
    ///
    /// Returns:
    ///     ``{"status": "success"}``.
    ///
    /// Raises:
    ///     OSError: if the file cannot be written.
    fn save_data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.save(py)?;
        let d = PyDict::new(py);
        d.set_item("status", "success")?;
        Ok(d)
    }

    /// Give ``user`` a budget (replacing any), and save.
    ///
    /// Args:
    ///     total_budget: USD.
    ///     user: the user.
    ///     duration: ``"daily"``, ``"weekly"``, ``"monthly"`` (28 days, as LiteLLM),
    ///         ``"yearly"``, or a length such as ``"30d"``/``"12h"``; None: never resets.
    ///     created_at: when the first period starts (Unix seconds; default now).
    ///
    /// Returns:
    ///     The user's entry.
    ///
    /// Raises:
    ///     ValueError: for an unknown duration.
    #[pyo3(signature = (total_budget, user, duration=None, created_at=None))]
    fn create_budget<'py>(
        &self,
        py: Python<'py>,
        total_budget: f64,
        user: &str,
        duration: Option<&str>,
        created_at: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let days = duration
            .map(manager::duration_days)
            .transpose()
            .map_err(manager_error)?;
        let out = {
            let mut m = self.lock()?;
            let b = m.create_budget(
                total_budget,
                user,
                days,
                created_at.unwrap_or_else(now_secs),
            );
            user_to_py(py, b)?
        };
        self.save(py)?;
        Ok(out)
    }

    /// The user's current cost plus the prompt cost of ``messages`` on ``model``.
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    ///     NotFoundError: if the model has no known price.
    #[pyo3(signature = (model, messages, user))]
    fn projected_cost(
        &self,
        py: Python<'_>,
        model: &str,
        messages: &Bound<'_, PyAny>,
        user: &str,
    ) -> PyResult<f64> {
        let current = self
            .lock()?
            .current_cost(user, now_secs())
            .map_err(manager_error)?;
        let prompt = super::cost::completion_cost(
            py,
            None,
            Some(model),
            "",
            "",
            Some(messages),
            None,
            None,
        )?;
        Ok(current + prompt)
    }

    /// The user's budget in USD.
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    #[pyo3(signature = (user))]
    fn get_total_budget(&self, user: &str) -> PyResult<f64> {
        self.lock()?.total_budget(user).map_err(manager_error)
    }

    /// Add a call's cost to the user (and to its model), and save.
    ///
    /// Args:
    ///     user: the user.
    ///     completion_obj: a response; its cost (``completion_cost``) is added.
    ///     model: with ``input_text`` and ``output_text``, instead of a response.
    ///     input_text: the prompt text.
    ///     output_text: the completion text.
    ///
    /// Returns:
    ///     ``{"user": <the user's entry>}``.
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    ///     ValueError: if neither a response nor model and texts are given.
    #[pyo3(signature = (user, completion_obj=None, model=None, input_text=None, output_text=None))]
    fn update_cost<'py>(
        &self,
        py: Python<'py>,
        user: &str,
        completion_obj: Option<&Bound<'py, PyAny>>,
        model: Option<&str>,
        input_text: Option<&str>,
        output_text: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (cost, model) = match (model, input_text, output_text, completion_obj) {
            (Some(m), Some(i), Some(o), _) => (
                super::cost::completion_cost(py, None, Some(m), i, o, None, None, None)?,
                m.to_owned(),
            ),
            (_, _, _, Some(obj)) if !obj.is_none() => {
                let cost =
                    super::cost::completion_cost(py, Some(obj), None, "", "", None, None, None)?;
                let model = obj
                    .get_item("model")
                    .or_else(|_| obj.getattr("model"))?
                    .extract::<String>()?;
                (cost, model)
            }
            _ => {
                return Err(PyValueError::new_err(
                    "update_cost needs completion_obj, or model with input_text and output_text",
                ))
            }
        };
        self.lock()?
            .add_cost(user, &model, cost, now_secs())
            .map_err(manager_error)?;
        self.save(py)?;
        self.user_result(py, user)
    }

    /// The user's cost in the current period (0 before any call).
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    #[pyo3(signature = (user))]
    fn get_current_cost(&self, user: &str) -> PyResult<f64> {
        self.lock()?
            .current_cost(user, now_secs())
            .map_err(manager_error)
    }

    /// The user's cost per model in the current period (0 before any call, as LiteLLM).
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    #[pyo3(signature = (user))]
    fn get_model_cost<'py>(&self, py: Python<'py>, user: &str) -> PyResult<Bound<'py, PyAny>> {
        let mut m = self.lock()?;
        m.reset_on_duration(user, now_secs())
            .map_err(manager_error)?;
        match &m.users[user].model_cost {
            Some(costs) => Ok(pythonize::pythonize(py, costs)
                .map_err(|e| PyValueError::new_err(e.to_string()))?),
            None => Ok(0i64.into_pyobject(py)?.into_any()),
        }
    }

    /// Whether the user has a budget.
    #[pyo3(signature = (user))]
    fn is_valid_user(&self, user: &str) -> PyResult<bool> {
        Ok(self.lock()?.is_valid_user(user))
    }

    /// Every user with a budget.
    fn get_users(&self) -> PyResult<Vec<String>> {
        Ok(self.lock()?.users.keys().cloned().collect())
    }

    /// Set the user's cost back to zero, and save.
    ///
    /// Returns:
    ///     ``{"user": <the user's entry>}``.
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    #[pyo3(signature = (user))]
    fn reset_cost<'py>(&self, py: Python<'py>, user: &str) -> PyResult<Bound<'py, PyDict>> {
        self.lock()?.reset_cost(user).map_err(manager_error)?;
        self.save(py)?;
        self.user_result(py, user)
    }

    /// Start the user's next period if its duration has passed (and save).
    ///
    /// Raises:
    ///     KeyError: if the user has no budget.
    #[pyo3(signature = (user))]
    fn reset_on_duration(&self, py: Python<'_>, user: &str) -> PyResult<()> {
        let reset = self
            .lock()?
            .reset_on_duration(user, now_secs())
            .map_err(manager_error)?;
        if reset {
            self.save(py)?;
        }
        Ok(())
    }

    /// :meth:`reset_on_duration` for every user with a duration.
    fn update_budget_all_users(&self, py: Python<'_>) -> PyResult<()> {
        if self.lock()?.update_budget_all_users(now_secs()) {
            self.save(py)?;
        }
        Ok(())
    }
}
