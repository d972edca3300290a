//! Budget policies for Python (`llmswitch.budgets`): add, remove, status, and delivery of
//! alerts to their callbacks.
//!
//! Alerts are queued by the core when a call settles (on whatever thread that happens) and
//! delivered here, on a Python thread holding the GIL, right after an llmswitch call
//! returns to Python (`completion`, `acompletion` when its result is handed over, a
//! stream's last chunk or close). The core never holds Python objects; the callbacks
//! live in this module, keyed by budget name and threshold.

use std::collections::HashMap;

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

use super::spend::{spend_error, time_from_py};
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
