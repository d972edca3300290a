//! The spend ledger for Python: `spend_report` (a `SpendReport` that renders as a table
//! with bars in Jupyter) and the functions behind `llmswitch.spend` (persistence, records,
//! the test clock).

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDate, PyDateTime, PyDict, PyList, PyString, PyTuple};

use crate::spend::clock::{self, Micros};
use crate::spend::{self, GroupKey, Interval, Report, ReportQuery, SpendError, SpendRecord};

pub fn spend_error(e: SpendError) -> PyErr {
    match e {
        SpendError::GroupKey(_) | SpendError::Interval(_) => PyValueError::new_err(e.to_string()),
        _ => pyo3::exceptions::PyOSError::new_err(e.to_string()),
    }
}

/// A point in time from Python: a `datetime` (naive means UTC), a `date` (midnight UTC),
/// an ISO 8601 string, or Unix seconds.
pub fn time_from_py(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Micros>> {
    let Some(v) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let py = v.py();
    let datetime_mod = py.import("datetime")?;
    let utc = datetime_mod.getattr("timezone")?.getattr("utc")?;
    let to_micros = |dt: &Bound<'_, PyAny>| -> PyResult<Micros> {
        let dt = if dt.getattr("tzinfo")?.is_none() {
            let kwargs = PyDict::new(py);
            kwargs.set_item("tzinfo", &utc)?;
            dt.call_method("replace", (), Some(&kwargs))?
        } else {
            dt.clone()
        };
        let secs: f64 = dt.call_method0("timestamp")?.extract()?;
        Ok(clock::from_secs_f64(secs))
    };
    if v.is_instance_of::<PyDateTime>() {
        return to_micros(v).map(Some);
    }
    if v.is_instance_of::<PyDate>() {
        let (y, m, d): (i64, u32, u32) = (
            v.getattr("year")?.extract()?,
            v.getattr("month")?.extract()?,
            v.getattr("day")?.extract()?,
        );
        return Ok(Some(
            clock::days_from_civil(y, m, d) * clock::MICROS_PER_DAY,
        ));
    }
    if let Ok(s) = v.cast::<PyString>() {
        let owned: String = s.extract()?;
        let text = owned.trim();
        let text = match text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
            Some(t) => format!("{t}+00:00"),
            None => text.to_owned(),
        };
        let parsed = datetime_mod
            .getattr("datetime")?
            .call_method1("fromisoformat", (text.as_str(),))
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "not an ISO 8601 date or time: {text:?} (e.g. \"2025-03-01\" or \"2025-03-01T12:00:00Z\")"
                ))
            })?;
        return to_micros(&parsed).map(Some);
    }
    if !v.is_instance_of::<pyo3::types::PyBool>() {
        if let Ok(secs) = v.extract::<f64>() {
            return Ok(Some(clock::from_secs_f64(secs)));
        }
    }
    Err(PyTypeError::new_err(
        "a time must be a datetime, a date, an ISO 8601 string or Unix seconds",
    ))
}

fn group_keys(group_by: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<GroupKey>> {
    let Some(g) = group_by.filter(|g| !g.is_none()) else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = match g.extract::<String>() {
        Ok(one) => vec![one],
        Err(_) => g.extract().map_err(|_| {
            PyTypeError::new_err("group_by must be a string or a sequence of strings")
        })?,
    };
    names
        .iter()
        .map(|n| GroupKey::parse(n).map_err(spend_error))
        .collect()
}

/// Spend grouped and sorted by cost, from the ledger. Shows in Jupyter as a chart of cost
/// over time stacked by group, above a table; ``to_html(path)`` and ``to_svg(path)`` save
/// them; ``to_dicts()`` gives the rows to programs.
#[pyclass(module = "llmswitch._llmswitch", frozen)]
pub struct SpendReport {
    report: Report,
}

impl SpendReport {
    fn row_dicts<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let names = self.report.key_names();
        self.report
            .rows
            .iter()
            .map(|r| {
                let d = PyDict::new(py);
                for (name, value) in names.iter().zip(&r.key) {
                    d.set_item(name, value.as_deref())?;
                }
                d.set_item("calls", r.calls)?;
                d.set_item("failures", r.failures)?;
                d.set_item("blocked", r.blocked)?;
                d.set_item("prompt_tokens", r.prompt_tokens)?;
                d.set_item("completion_tokens", r.completion_tokens)?;
                d.set_item("total_tokens", r.prompt_tokens + r.completion_tokens)?;
                d.set_item("cost", r.cost)?;
                d.set_item("share", r.share)?;
                d.set_item("unpriced_calls", r.unpriced_calls)?;
                d.set_item("mean_latency", r.mean_latency)?;
                Ok(d)
            })
            .collect()
    }
}

#[pymethods]
impl SpendReport {
    /// The rows as dicts, highest cost first: the group-by columns, then ``calls``,
    /// ``failures`` (failed, cancelled or blocked), ``blocked`` (refused by a budget),
    /// ``prompt_tokens``, ``completion_tokens``, ``total_tokens``, ``cost`` (USD), ``share``
    /// (of the total cost), ``unpriced_calls`` and ``mean_latency`` (s).
    fn to_dicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.row_dicts(py)?)
    }

    /// The columns the rows are grouped by.
    #[getter]
    fn group_by<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.report.key_names())
    }

    /// Total cost (USD) of the calls covered.
    #[getter]
    fn total_cost(&self) -> f64 {
        self.report.total_cost
    }

    /// Number of calls covered.
    #[getter]
    fn total_calls(&self) -> u64 {
        self.report.total_calls
    }

    /// The chart above the table (Jupyter's rich display).
    fn _repr_html_(&self) -> String {
        self.report.to_html()
    }

    /// The chart and the table as an HTML page; written to ``path`` when one is given.
    ///
    /// Raises:
    ///     OSError: if ``path`` cannot be written.
    #[pyo3(signature = (path=None))]
    fn to_html(&self, py: Python<'_>, path: Option<PathBuf>) -> PyResult<String> {
        let page = self.report.to_html_page();
        write_to(py, path, &page)?;
        Ok(page)
    }

    /// The chart (cost per hour or day, stacked by group, with axes and a legend) as an SVG
    /// document; written to ``path`` when one is given.
    ///
    /// Raises:
    ///     OSError: if ``path`` cannot be written.
    #[pyo3(signature = (path=None))]
    fn to_svg(&self, py: Python<'_>, path: Option<PathBuf>) -> PyResult<String> {
        let svg = spend::chart::svg(&self.report, true);
        write_to(py, path, &svg)?;
        Ok(svg)
    }

    /// The time buckets of the chart: ``(start, {group label: cost})`` with ``start`` in
    /// Unix seconds, one per hour or day (``interval``) from the first call to the last.
    fn timeline<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for (b, start) in self.report.buckets.iter().enumerate() {
            let costs = PyDict::new(py);
            for row in &self.report.rows {
                costs.set_item(self.report.row_label(row), row.timeline[b])?;
            }
            out.append((clock::to_secs_f64(*start), costs))?;
        }
        Ok(out)
    }

    /// ``"hour"`` or ``"day"``: the width of the chart's time buckets.
    #[getter]
    fn interval(&self) -> &'static str {
        self.report.interval.name()
    }

    fn __repr__(&self) -> String {
        self.report.to_text()
    }

    fn __len__(&self) -> usize {
        self.report.rows.len()
    }

    fn __str__(&self) -> String {
        self.report.to_text()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.to_dicts(py)?.try_iter()?.into_any())
    }
}

/// Spend from the ledger, grouped and sorted by cost (highest first).
///
/// Args:
///     group_by: one or more of ``"model"``, ``"provider"``, ``"deployment"``, ``"user"``,
///         ``"project"``, ``"key"``, ``"tag"`` (a call counts once per tag), ``"status"``,
///         ``"error"``, ``"day"`` or ``"hour"`` (UTC) or ``"metadata.<field>"``; ``()`` for
///         one total row.
///     since: only calls started at or after this time (``datetime`` — naive means UTC —,
///         ``date``, ISO 8601 string, or Unix seconds).
///     until: only calls started before this time.
///     interval: the chart's time buckets, ``"hour"`` or ``"day"``; default: hours when
///         the calls span up to two days, else days.
///
/// Returns:
///     A ``SpendReport``: ``to_dicts()``, ``len()``, iteration over row dicts,
///     ``total_cost``, ``to_html(path)``, ``to_svg(path)``, and in Jupyter a chart of cost
///     over time above the table.
///
/// Raises:
///     ValueError: for an unknown ``group_by`` key or interval, or an unreadable time.
///     OSError: if the persisted ledger cannot be read.
#[pyfunction]
#[pyo3(signature = (group_by=None, since=None, until=None, interval=None))]
pub fn spend_report(
    py: Python<'_>,
    group_by: Option<&Bound<'_, PyAny>>,
    since: Option<&Bound<'_, PyAny>>,
    until: Option<&Bound<'_, PyAny>>,
    interval: Option<&str>,
) -> PyResult<SpendReport> {
    let group_by = match group_by {
        Some(g) => group_keys(Some(g))?,
        None => vec![GroupKey::Model],
    };
    let query = ReportQuery {
        group_by,
        since: time_from_py(since)?,
        until: time_from_py(until)?,
        interval: interval
            .map(Interval::parse)
            .transpose()
            .map_err(spend_error)?,
    };
    let report = py
        .detach(|| spend::ledger().report(&query))
        .map_err(spend_error)?;
    Ok(SpendReport { report })
}

/// Write `text` to `path` (if given) with the GIL released.
fn write_to(py: Python<'_>, path: Option<PathBuf>, text: &str) -> PyResult<()> {
    let Some(path) = path else {
        return Ok(());
    };
    py.detach(|| std::fs::write(&path, text))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{}: {e}", path.display())))
}

/// Persist the ledger to an SQLite file (created if missing); records made so far are
/// written too. Writes happen on a background thread, batched.
///
/// Args:
///     path: the SQLite file.
///
/// Raises:
///     OSError: if the file cannot be opened or created.
#[pyfunction]
#[pyo3(signature = (path))]
pub fn _spend_enable_store(py: Python<'_>, path: PathBuf) -> PyResult<()> {
    py.detach(|| spend::ledger().enable_store(&path))
        .map_err(spend_error)
}

/// Stop persisting, after writing everything recorded so far.
#[pyfunction]
pub fn _spend_disable_store(py: Python<'_>) {
    py.detach(|| spend::ledger().disable_store());
}

/// The SQLite file the ledger persists to, if any.
#[pyfunction]
pub fn _spend_store_path() -> Option<PathBuf> {
    spend::ledger().store_path()
}

/// Wait until every record so far is written to the SQLite file; OSError if records could
/// not be written.
#[pyfunction]
pub fn _spend_flush(py: Python<'_>) -> PyResult<()> {
    let flushed = py.detach(|| spend::ledger().flush());
    super::cache::deliver_warnings(py);
    flushed.map_err(spend_error)
}

/// The ledger's state: recording, the SQLite file, and its writer's counts.
#[pyfunction]
pub fn _spend_status(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let l = spend::ledger();
    let d = pyo3::types::PyDict::new(py);
    d.set_item("recording", l.is_recording())?;
    d.set_item("path", l.store_path().map(|p| p.display().to_string()))?;
    let s = l.store_status().unwrap_or_default();
    d.set_item("written", s.written)?;
    d.set_item("pending", s.pending)?;
    d.set_item("dropped", s.dropped)?;
    d.set_item("last_error", s.last_error)?;
    Ok(d)
}

/// Turn recording on or off, and set how many records stay in memory.
///
/// Args:
///     recording: whether calls are recorded.
///     max_records: records kept in memory (oldest dropped first); unchanged if None.
#[pyfunction]
#[pyo3(signature = (recording, max_records=None))]
pub fn _spend_configure(recording: bool, max_records: Option<usize>) {
    let l = spend::ledger();
    l.set_recording(recording);
    if let Some(n) = max_records {
        l.set_max_records(n);
    }
}

/// Whether calls are being recorded.
#[pyfunction]
pub fn _spend_is_recording() -> bool {
    spend::ledger().is_recording()
}

/// Forget the in-memory records (a persisted file keeps its rows).
#[pyfunction]
pub fn _spend_clear() {
    spend::ledger().clear_memory();
}

/// The in-memory ledger's size: ``(records, bytes)`` (ring slots and interned values).
#[pyfunction]
pub fn _spend_footprint() -> (usize, usize) {
    spend::ledger().memory_footprint()
}

fn record_to_py<'py>(py: Python<'py>, r: &SpendRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", format!("{:032x}", r.id))?;
    d.set_item("started_at", clock::to_secs_f64(r.started_at))?;
    d.set_item("model", &r.model)?;
    d.set_item("provider", &r.provider)?;
    d.set_item("deployment", r.deployment.as_deref())?;
    d.set_item("prompt_tokens", r.prompt_tokens)?;
    d.set_item("completion_tokens", r.completion_tokens)?;
    d.set_item("cost", r.cost)?;
    d.set_item("latency", r.latency)?;
    d.set_item("status", r.status.as_str())?;
    d.set_item("error", r.error.as_deref())?;
    d.set_item("stream", r.stream)?;
    d.set_item("estimated", r.estimated)?;
    d.set_item("user", r.user())?;
    d.set_item("project", r.project())?;
    d.set_item("key", r.key())?;
    d.set_item("tags", r.tags())?;
    let extra = match r.metadata.as_deref() {
        Some(m) => {
            pythonize::pythonize(py, &m.extra).map_err(|e| PyValueError::new_err(e.to_string()))?
        }
        None => PyDict::new(py).into_any(),
    };
    d.set_item("metadata", extra)?;
    d.set_item("downgraded_from", r.downgraded_from.as_deref())?;
    Ok(d)
}

/// The ledger's records started in ``[since, until)``, oldest first, as dicts.
///
/// Args:
///     since: as for :func:`spend_report`.
///     until: as for :func:`spend_report`.
///
/// Raises:
///     OSError: if the persisted ledger cannot be read.
#[pyfunction]
#[pyo3(signature = (since=None, until=None))]
pub fn _spend_records<'py>(
    py: Python<'py>,
    since: Option<&Bound<'py, PyAny>>,
    until: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let (since, until) = (time_from_py(since)?, time_from_py(until)?);
    let mut records = Vec::new();
    py.detach(|| spend::ledger().for_each_record(since, until, |r| records.push(r.clone())))
        .map_err(spend_error)?;
    let out = PyList::empty(py);
    for r in &records {
        out.append(record_to_py(py, r)?)?;
    }
    Ok(out)
}

/// Tests only: freeze the ledger and budget clock at ``at`` (Unix seconds, datetime or
/// ISO string), or return to the system clock with None.
#[pyfunction]
#[pyo3(signature = (at))]
pub fn _set_clock(at: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    clock::set_override(time_from_py(at)?);
    Ok(())
}
