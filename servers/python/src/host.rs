//! The user's Python object as a Seldon [`Component`]: every hook decodes the request in Rust (the runtime's
//! Seldon module already parsed it), runs on one of the Python worker threads, holds the GIL only while it builds the
//! arguments (numpy arrays over the decoded tensors' buffers, moved, not copied), calls the user's method and
//! copies the result (and the class's `tags()`, `metrics()`, `class_names()`) back into Rust values; the reply
//! is built outside the GIL with the runtime's SDK ([`component::typed_reply`], [`Node::unit_meta`]).
//!
//! The rules are the wrapper's (`seldon-v1-details.md` §3 and the answers recorded from `seldon-core-microservice`
//! in `tests/answers.json`): a `*_raw` method gets and returns the whole message; otherwise `data` becomes a
//! numpy array, `jsonData` a dict, `strData` a str, `binData` bytes; a returned ndarray or list answers `data`
//! (in the request's array form; strings as `ndarray`; `names` from `class_names()`, else `t:i`), a dict
//! `jsonData`, a str `strData`, bytes `binData`, anything else a 400; a method lacking the hook answers as the
//! wrapper does (transforms echo, `Route not defined`, ...).

use std::ffi::CString;
use std::sync::{Arc, Mutex, mpsc};

use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, PyArray, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use oxserve_core::{Tensor, TensorData};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::seldon::{
    ArrayKind, DataArray, DefaultData, Feedback, Meta, Metric, Payload, SeldonMessage,
};
use oxserve_runtime::component::{
    self, Component, ComponentError, FeedbackOutcome, Form, HookJob, Method, Node, Tags, Unit,
};
use oxserve_runtime::config::{ParamValue, Parameters};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Deepest JSON nesting converted either way (Python's own `json` recursion limit is about this).
const MAX_DEPTH: usize = 512;

/// Why the user's class could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Python raised while importing, constructing or loading the user's class (the traceback is logged).
    #[error("loading `{interface}` failed: {message}")]
    Load {
        /// The interface name from the command line.
        interface: String,
        /// The Python exception.
        message: String,
    },
}

/// Which optional methods the user's class has (looked up once, at start-up).
#[derive(Debug, Default, Clone, Copy)]
struct Hooks {
    predict: bool,
    predict_raw: bool,
    transform_input: bool,
    transform_input_raw: bool,
    transform_output: bool,
    transform_output_raw: bool,
    route: bool,
    route_raw: bool,
    aggregate: bool,
    aggregate_raw: bool,
    send_feedback: bool,
    send_feedback_raw: bool,
    health_status: bool,
    health_status_raw: bool,
    tags: bool,
    metrics: bool,
    class_names: bool,
    /// The class registers Flask error handlers (`model_error_handler`): user exceptions with a `status_code`
    /// and `to_dict()` answer their own status and body.
    error_handler: bool,
}

/// The Python worker threads: at most `--python-threads` hook calls run at once, each on one of these threads,
/// which attach to the interpreter once for their whole life (the GIL released while they wait for a call). A
/// call made on whatever thread the runtime has at hand would create and destroy an interpreter thread state
/// (and map and unmap its frame stack) on every request. The runtime hands each call over directly
/// ([`Component::spawn_hook`]): one wake-up to get here, one to answer, and a thread that waits for work sleeps
/// at once (no spinning on a core the runtime's own thread needs).
#[derive(Debug)]
struct PythonWorkers {
    queue: mpsc::Sender<HookJob>,
}

impl PythonWorkers {
    fn start(n: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<HookJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..n.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("python-{i}"))
                .spawn(move || {
                    Python::attach(|py| {
                        py.detach(|| {
                            loop {
                                // One waiter holds the lock while it waits; the others wait on the lock.
                                let next = match jobs.lock() {
                                    Ok(jobs) => jobs.recv(),
                                    Err(_) => break,
                                };
                                match next {
                                    // A job catches its own panics (the runtime wraps every hook call).
                                    Ok(job) => job(),
                                    Err(mpsc::RecvError) => break,
                                }
                            }
                        })
                    });
                })?;
        }
        Ok(PythonWorkers { queue })
    }

    /// Queues `job` for the next free worker; `Err(job)` if the workers are gone.
    fn spawn(&self, job: HookJob) -> Result<(), HookJob> {
        self.queue.send(job).map_err(|mpsc::SendError(job)| job)
    }
}

/// The user's object, served as a component.
#[derive(Debug)]
pub struct PythonComponent {
    object: Py<PyAny>,
    numpy: Py<PyModule>,
    hooks: Hooks,
    metadata: Option<serde_json::Value>,
    workers: PythonWorkers,
}

/// What the interpreter runs once before importing the user's module: the site-packages of the venv in
/// `VIRTUAL_ENV` (for this Python's major.minor), else the `sys.path` of the `python3` on `PATH` (asked once, and
/// used only when its version is this interpreter's), the working directory first on `sys.path`, and logging at the level.
const SETUP: &str = r#"
import glob, json, logging, os, shutil, site, subprocess, sys
sys.argv = ["oxserve-microservice"]
def _oxserve_paths():
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        found = glob.glob(os.path.join(venv, "lib", "python%d.%d" % sys.version_info[:2], "site-packages"))
        if not found:
            logging.getLogger("oxserve").warning("VIRTUAL_ENV %s has no site-packages for Python %d.%d", venv, *sys.version_info[:2])
        return found
    exe = shutil.which("python3")
    if not exe:
        return []
    probe = "import json, sys; print(json.dumps([list(sys.version_info[:2]), sys.path]))"
    try:
        out = subprocess.run([exe, "-c", probe], capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": ""})
        version, paths = json.loads(out.stdout)
    except Exception as e:
        logging.getLogger("oxserve").warning("cannot ask %s for its sys.path: %s", exe, e)
        return []
    if tuple(version) != tuple(sys.version_info[:2]):
        logging.getLogger("oxserve").warning("%s is Python %d.%d, this interpreter %d.%d: its packages are not used", exe, version[0], version[1], *sys.version_info[:2])
        return []
    return [p for p in paths if p]
logging.basicConfig(level=getattr(logging, LOG_LEVEL, logging.INFO),
                    format="%(asctime)s - %(name)s:%(funcName)s:%(lineno)s - %(levelname)s:  %(message)s")
_before = list(sys.path)
for _p in _oxserve_paths():
    if _p in _before:
        continue
    if _p.endswith("site-packages"):
        site.addsitedir(_p)
    else:
        sys.path.append(_p)
sys.path[:] = [p for p in sys.path if p not in _before] + _before
sys.path.insert(0, os.getcwd())
"#;

/// A Python exception as a start-up error, its traceback printed.
fn load_error(py: Python<'_>, interface: &str, e: PyErr) -> StartError {
    e.print(py);
    StartError::Load {
        interface: interface.to_string(),
        message: e.to_string(),
    }
}

impl PythonComponent {
    /// Starts the interpreter, makes the user's packages visible, imports `interface` (`Model` or
    /// `module.Class`) from the working directory, builds it with `parameters` as keyword arguments (typed as
    /// the wrapper types them) and calls its `load()` if it has one.
    pub fn start(
        interface: &str,
        parameters: &Parameters,
        log_level: &str,
        python_threads: usize,
    ) -> Result<Self, StartError> {
        Python::initialize();
        Python::attach(|py| {
            let fail = |e: PyErr| load_error(py, interface, e);
            let globals = PyDict::new(py);
            globals.set_item("LOG_LEVEL", log_level).map_err(fail)?;
            let setup = CString::new(SETUP).map_err(|e| StartError::Load {
                interface: interface.into(),
                message: e.to_string(),
            })?;
            py.run(&setup, Some(&globals), None).map_err(fail)?;
            let (module, class) = interface.rsplit_once('.').unwrap_or((interface, interface));
            let class = py
                .import(module)
                .map_err(fail)?
                .getattr(class)
                .map_err(fail)?;
            let kwargs = PyDict::new(py);
            for (name, value) in parameters.iter() {
                kwargs
                    .set_item(name, param_to_py(py, value).map_err(fail)?)
                    .map_err(fail)?;
            }
            let object = class.call((), Some(&kwargs)).map_err(fail)?;
            if object.hasattr("load").map_err(fail)? {
                object.call_method0("load").map_err(fail)?;
            }
            let has = |name: &str| object.hasattr(name).unwrap_or(false);
            let hooks = Hooks {
                predict: has("predict"),
                predict_raw: has("predict_raw"),
                transform_input: has("transform_input"),
                transform_input_raw: has("transform_input_raw"),
                transform_output: has("transform_output"),
                transform_output_raw: has("transform_output_raw"),
                route: has("route"),
                route_raw: has("route_raw"),
                aggregate: has("aggregate"),
                aggregate_raw: has("aggregate_raw"),
                send_feedback: has("send_feedback"),
                send_feedback_raw: has("send_feedback_raw"),
                health_status: has("health_status"),
                health_status_raw: has("health_status_raw"),
                tags: has("tags"),
                metrics: has("metrics"),
                class_names: has("class_names"),
                error_handler: has("model_error_handler"),
            };
            let metadata = if has("init_metadata") {
                match object
                    .call_method0("init_metadata")
                    .and_then(|m| py_to_json(&m, 0))
                {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::error!(error = %e, "init_metadata() failed; serving the default metadata");
                        None
                    }
                }
            } else {
                None
            };
            let numpy = py.import("numpy").map_err(fail)?.unbind();
            let workers = PythonWorkers::start(python_threads).map_err(|e| StartError::Load {
                interface: interface.into(),
                message: format!("cannot start the Python worker threads: {e}"),
            })?;
            Ok(PythonComponent {
                object: object.unbind(),
                numpy,
                hooks,
                metadata,
                workers,
            })
        })
    }

    /// Runs `f` with the GIL. Hooks run on a Python worker thread ([`Component::spawn_hook`]), attached to the
    /// interpreter already; on any other thread the attach makes a thread state for the call.
    fn with_python<T>(&self, f: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> T) -> T {
        Python::attach(|py| f(py, self.object.bind(py)))
    }

    /// The class's `tags()`, `metrics()` and `class_names` after a call (the GIL held).
    fn unit(&self, py: Python<'_>, object: &Bound<'_, PyAny>) -> Result<Fetched, ComponentError> {
        let mut fetched = Fetched::default();
        if self.hooks.tags {
            let tags = object
                .call_method0("tags")
                .and_then(|t| py_to_json(&t, 0))
                .map_err(|e| self.user_error(py, e))?;
            if let serde_json::Value::Object(map) = tags {
                fetched.tags = map.into_iter().collect();
            }
        }
        if self.hooks.metrics {
            let metrics = object
                .call_method0("metrics")
                .and_then(|m| py_to_json(&m, 0))
                .map_err(|e| self.user_error(py, e))?;
            fetched.metrics = metrics_from_json(metrics)?;
        }
        if self.hooks.class_names {
            let names = object
                .getattr("class_names")
                .and_then(|n| if n.is_callable() { n.call0() } else { Ok(n) })
                .and_then(|n| n.extract::<Vec<String>>())
                .map_err(|e| self.user_error(py, e))?;
            fetched.class_names = Some(names);
        }
        Ok(fetched)
    }

    /// A Python exception as the wrapper answers it: a `SeldonMicroserviceException` (by class name, so the
    /// user's `seldon_core` import is not needed) with its status, reason and message; a user exception with a
    /// `status_code` and `to_dict()` on a class that registers Flask error handlers with its own status and
    /// `status` fields; anything else 500 `MICROSERVICE_INTERNAL_ERROR` with `str(exception)`.
    fn user_error(&self, py: Python<'_>, err: PyErr) -> ComponentError {
        let value = err.value(py);
        let text = |v: &Bound<'_, PyAny>| {
            v.str()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let seldon = value
            .get_type()
            .getattr("__mro__")
            .ok()
            .and_then(|mro| mro.extract::<Vec<Bound<'_, PyAny>>>().ok())
            .is_some_and(|classes| {
                classes.iter().any(|c| {
                    c.getattr("__name__")
                        .and_then(|n| n.extract::<String>())
                        .is_ok_and(|n| n == "SeldonMicroserviceException")
                })
            });
        let status = value
            .getattr("status_code")
            .and_then(|s| s.extract::<u16>())
            .ok();
        if seldon {
            let reason = value
                .getattr("reason")
                .and_then(|r| r.extract::<String>())
                .unwrap_or_else(|_| oxserve_protocol::seldon::REASON_BAD_DATA.to_string());
            let message = value
                .getattr("message")
                .map(|m| text(&m))
                .unwrap_or_else(|_| text(value.as_any()));
            return ComponentError::with_status(status.unwrap_or(400), reason, message);
        }
        if self.hooks.error_handler
            && let Some(status) = status
            && let Ok(serde_json::Value::Object(body)) = value
                .call_method0("to_dict")
                .and_then(|d| py_to_json(&d, 0))
            && let Some(fields) = body.get("status").and_then(|s| s.as_object())
        {
            let field = |k: &str| fields.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            let code = fields
                .get("code")
                .and_then(serde_json::Value::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(-1);
            return ComponentError::with_status(status, field("reason").to_string(), field("info"))
                .with_code(code);
        }
        tracing::debug!(error = %err, "the user's code raised");
        ComponentError::internal(text(value.as_any()))
    }

    /// Calls `name(*args, meta=meta)`, and `name(*args)` when that raises `TypeError` (a method without `meta`),
    /// as the wrapper tries both.
    fn call_with_meta<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        name: &str,
        args: Bound<'py, PyTuple>,
        kwarg: (&str, Bound<'py, PyAny>),
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = object.py();
        let kwargs = PyDict::new(py);
        kwargs.set_item(kwarg.0, kwarg.1)?;
        match object.call_method(name, args.clone(), Some(&kwargs)) {
            Err(e) if e.is_instance_of::<PyTypeError>(py) => object.call_method1(name, args),
            other => other,
        }
    }

    /// A `*_raw` hook: the message in as a dict, the returned dict parsed as the reply message (its metrics
    /// exported). A reply whose `status.code` is an HTTP error status answers that status.
    fn raw(
        &self,
        node: &Node,
        method: Method,
        name: &str,
        message: serde_json::Value,
    ) -> Result<SeldonMessage, ComponentError> {
        let reply = self.with_python(|py, object| {
            let arg = json_to_py(py, &message, 0).map_err(|e| self.user_error(py, e))?;
            object
                .call_method1(name, (arg,))
                .and_then(|r| py_to_json(&r, 0))
                .map_err(|e| self.user_error(py, e))
        })?;
        raw_reply(node, method, reply)
    }

    /// Calls the user's method `name` over one request's features (`meta=` too when `with_meta`), and reads the
    /// result and the class's per-reply values, under one hold of the GIL.
    fn call_features(
        &self,
        name: &str,
        with_meta: bool,
        features: Body,
        names: &[String],
        meta: &Meta,
    ) -> Result<(Body, Fetched), ComponentError> {
        let meta = meta_json(meta);
        self.with_python(|py, object| {
            let np = self.numpy.bind(py);
            let result = (|| {
                let x = features.into_py(py)?;
                let names = PyList::new(py, names)?.into_any();
                let args = PyTuple::new(py, [x, names])?;
                if with_meta {
                    let meta = json_to_py(py, &meta, 0)?;
                    self.call_with_meta(object, name, args, ("meta", meta))
                } else {
                    object.call_method1(name, args)
                }
            })()
            .map_err(|e| self.user_error(py, e))?;
            let output = Body::from_py(np, &result).map_err(|e| self.user_error(py, e))??;
            Ok((output, self.unit(py, object)?))
        })
    }

    /// A hook over one message: `*_raw`, else the method over the decoded features, else (`echo`) the features
    /// themselves, answered through the reply builder.
    fn message_hook(
        &self,
        node: &Node,
        request: SeldonMessage,
        method: Method,
        (name, has, has_raw): (&str, bool, bool),
        echo: bool,
    ) -> Result<SeldonMessage, ComponentError> {
        if has_raw {
            return self.raw(node, method, &format!("{name}_raw"), message_json(&request));
        }
        let (form, features, names) = decode(request.payload, &request.meta)?;
        let (output, unit) = if has {
            self.call_features(name, true, features, &names, &request.meta)?
        } else {
            let output = if echo {
                features
            } else {
                Body::Array(empty_tensor()?)
            };
            (
                output,
                self.with_python(|py, object| self.unit(py, object))?,
            )
        };
        output.reply(node, &request.meta, &unit, method, form)
    }
}

/// The class's optional per-reply values.
#[derive(Debug, Default)]
struct Fetched {
    tags: Tags,
    metrics: Vec<Metric>,
    class_names: Option<Vec<String>>,
}

impl Unit for Fetched {
    fn tags(&self) -> Tags {
        self.tags.clone()
    }

    fn metrics(&self) -> Vec<Metric> {
        self.metrics.clone()
    }

    fn class_names(&self) -> Option<Vec<String>> {
        self.class_names.clone()
    }
}

/// `metrics()`'s list of `{"type", "key", "value", "tags"}` dicts.
fn metrics_from_json(value: serde_json::Value) -> Result<Vec<Metric>, ComponentError> {
    let bad = |why: String| {
        ComponentError::with_status(
            500,
            component::REASON_BAD_METRIC,
            format!("Bad metric created during request: {why}"),
        )
    };
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Null => return Ok(Vec::new()),
        other => return Err(bad(format!("metrics() must return a list, got {other}"))),
    };
    items
        .into_iter()
        .map(|item| {
            let text = item.to_string();
            serde_json::from_value::<Metric>(item).map_err(|e| bad(format!("{text}: {e}")))
        })
        .collect()
}

/// A message's payload on its way to or from the user's method: the request's features as the method gets
/// them (an empty `data` is an empty float array), or what it returned.
#[derive(Debug)]
enum Body {
    /// `data`: a numpy array in Python.
    Array(Tensor),
    /// `jsonData`: a dict (or any JSON value).
    Json(serde_json::Value),
    /// `strData`: a str.
    Str(String),
    /// `binData`: bytes.
    Bin(Vec<u8>),
}

impl Body {
    fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        match self {
            Body::Array(t) => tensor_to_py(py, t),
            Body::Json(v) => json_to_py(py, &v, 0),
            Body::Str(s) => Ok(PyString::new(py, &s).into_any()),
            Body::Bin(b) => Ok(PyBytes::new(py, &b).into_any()),
        }
    }

    /// The wrapper's payload rules: dict, str, bytes, ndarray or list; anything else is the caller's 400.
    fn from_py(
        np: &Bound<'_, PyModule>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Result<Body, ComponentError>> {
        if value.is_instance_of::<PyDict>() {
            return Ok(Ok(Body::Json(py_to_json(value, 0)?)));
        }
        if let Ok(s) = value.cast::<PyString>() {
            return Ok(Ok(Body::Str(s.to_string_lossy().into_owned())));
        }
        if let Ok(b) = value.cast::<PyBytes>() {
            return Ok(Ok(Body::Bin(b.as_bytes().to_vec())));
        }
        if value.is_instance_of::<PyList>() || value.cast::<PyUntypedArray>().is_ok() {
            return Ok(array_to_tensor(np, value)?.map(Body::Array));
        }
        let repr = value.repr()?.to_string_lossy().into_owned();
        Ok(Err(ComponentError::bad_data(format!(
            "Unknown data type returned as payload (must be list or np array):{repr}"
        ))))
    }

    /// The reply: `data` through the SDK's typed reply, the other payloads with the unit's `meta`.
    fn reply(
        self,
        node: &Node,
        request: &Meta,
        unit: &Fetched,
        method: Method,
        form: Form,
    ) -> Result<SeldonMessage, ComponentError> {
        let payload = match self {
            Body::Array(t) => {
                return component::typed_reply(node, request, unit, method, form, t);
            }
            Body::Json(v) => Payload::JsonData(v),
            Body::Str(s) => Payload::StrData(s),
            Body::Bin(b) => Payload::BinData(b),
        };
        Ok(SeldonMessage {
            meta: node.unit_meta(request, unit, method)?,
            payload,
            status: None,
        })
    }
}

fn empty_tensor() -> Result<Tensor, ComponentError> {
    Tensor::new(vec![0], TensorData::F64(Vec::new()))
        .map_err(|e| ComponentError::internal(e.to_string()))
}

/// A payload's features, the reply's form and `data.names`.
fn decode(payload: Payload, meta: &Meta) -> Result<(Form, Body, Vec<String>), ComponentError> {
    Ok(match payload {
        Payload::Data(DefaultData { names, array }) => {
            let kind = array.kind().unwrap_or(ArrayKind::NdArray);
            let tensor = match array {
                DataArray::None => empty_tensor()?,
                DataArray::Table(_) => {
                    return Err(ComponentError::bad_data(
                        "ndarray mixes element types; send numbers only or strings only",
                    ));
                }
                array => array
                    .into_tensor()
                    .ok_or_else(|| ComponentError::bad_data("request `data` holds no array"))?,
            };
            (Form::Data(kind), Body::Array(tensor), names)
        }
        Payload::JsonData(v) => (Form::Other, Body::Json(v), Vec::new()),
        Payload::StrData(s) => (Form::Other, Body::Str(s), Vec::new()),
        Payload::BinData(b) => (Form::Other, Body::Bin(b), Vec::new()),
        Payload::None => {
            let shown = serde_json::json!({ "meta": meta_json(meta) });
            return Err(ComponentError::bad_data(format!(
                "Invalid request data type: {shown}"
            )));
        }
    })
}

/// A message as the JSON the wrapper hands a `*_raw` method (an empty `meta` left out, as a client that sent
/// none).
fn message_json(message: &SeldonMessage) -> serde_json::Value {
    let mut value = serde_json::to_value(message).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value
        && map
            .get("meta")
            .is_some_and(|m| m.as_object().is_some_and(|m| m.is_empty()))
    {
        map.remove("meta");
    }
    value
}

fn meta_json(meta: &Meta) -> serde_json::Value {
    serde_json::to_value(meta).unwrap_or_else(|_| serde_json::json!({}))
}

/// A `*_raw` method's reply: a `status.code` of 400–599 is that error; anything else is read as the message
/// (its `meta.metrics` exported as the wrapper exports a raw reply's).
fn raw_reply(
    node: &Node,
    method: Method,
    reply: serde_json::Value,
) -> Result<SeldonMessage, ComponentError> {
    if let Some(status) = reply.get("status").and_then(|s| s.as_object())
        && let Some(code) = status.get("code").and_then(serde_json::Value::as_i64)
        && (400..600).contains(&code)
    {
        let field = |k: &str| status.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let http = u16::try_from(code).unwrap_or(500);
        return Err(
            ComponentError::with_status(http, field("reason").to_string(), field("info"))
                .with_code(i32::from(http)),
        );
    }
    let bytes = serde_json::to_vec(&reply).map_err(|e| ComponentError::internal(e.to_string()))?;
    let message = SeldonMessage::from_json(&bytes, &RequestLimits::default()).map_err(|e| {
        ComponentError::internal(format!(
            "the raw method's reply is not a SeldonMessage: {e}"
        ))
    })?;
    node.export_metrics(&message.meta.metrics, method)?;
    Ok(message)
}

impl Component for PythonComponent {
    fn predict(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        let h = self.hooks;
        self.message_hook(
            node,
            request,
            Method::Predict,
            ("predict", h.predict, h.predict_raw),
            false,
        )
    }

    fn transform_input(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        let h = self.hooks;
        self.message_hook(
            node,
            request,
            Method::InputTransform,
            ("transform_input", h.transform_input, h.transform_input_raw),
            true,
        )
    }

    fn transform_output(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        let h = self.hooks;
        self.message_hook(
            node,
            request,
            Method::OutputTransform,
            (
                "transform_output",
                h.transform_output,
                h.transform_output_raw,
            ),
            true,
        )
    }

    fn route(&self, node: &Node, request: SeldonMessage) -> Result<SeldonMessage, ComponentError> {
        if self.hooks.route_raw {
            return self.raw(node, Method::Router, "route_raw", message_json(&request));
        }
        if !self.hooks.route {
            return Err(ComponentError::bad_data("Route not defined"));
        }
        let (form, features, names) = decode(request.payload, &request.meta)?;
        let (branch, unit) = self.with_python(|py, object| {
            let result = (|| {
                let x = features.into_py(py)?;
                object.call_method1("route", (x, PyList::new(py, &names)?))
            })()
            .map_err(|e| self.user_error(py, e))?;
            let branch = if result.is_instance_of::<PyBool>() {
                None
            } else {
                result.extract::<i64>().ok()
            };
            let branch = match branch {
                Some(b) => b,
                None => {
                    let shown = result
                        .str()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    return Err(ComponentError::bad_data(format!(
                        "Routing response must be int but got {shown}"
                    )));
                }
            };
            Ok((branch, self.unit(py, object)?))
        })?;
        let output = Tensor::new(vec![1, 1], TensorData::I64(vec![branch]))
            .map_err(|e| ComponentError::internal(e.to_string()))?;
        component::typed_reply(node, &request.meta, &unit, Method::Router, form, output)
    }

    fn aggregate(
        &self,
        node: &Node,
        requests: Vec<SeldonMessage>,
    ) -> Result<SeldonMessage, ComponentError> {
        if self.hooks.aggregate_raw {
            let list = serde_json::json!({
                "seldonMessages": requests.iter().map(message_json).collect::<Vec<_>>()
            });
            return self.raw(node, Method::Aggregate, "aggregate_raw", list);
        }
        if !self.hooks.aggregate {
            return Err(ComponentError::bad_data("Aggregate not defined"));
        }
        let mut merged = Meta::default();
        let mut form = None;
        let mut inputs = Vec::with_capacity(requests.len());
        let mut names = Vec::with_capacity(requests.len());
        for request in requests {
            let (f, features, n) = decode(request.payload, &request.meta)?;
            merged.tags.extend(request.meta.tags);
            merged.metrics.extend(request.meta.metrics);
            merged.request_path.extend(request.meta.request_path);
            if merged.puid.is_empty() {
                merged.puid = request.meta.puid;
            }
            form.get_or_insert(f);
            inputs.push(features);
            names.push(n);
        }
        let (output, unit) = self.with_python(|py, object| {
            let np = self.numpy.bind(py);
            let result = (|| {
                let xs = inputs
                    .into_iter()
                    .map(|f| f.into_py(py))
                    .collect::<PyResult<Vec<_>>>()?;
                let names = names
                    .iter()
                    .map(|n| PyList::new(py, n))
                    .collect::<PyResult<Vec<_>>>()?;
                object.call_method1("aggregate", (PyList::new(py, xs)?, PyList::new(py, names)?))
            })()
            .map_err(|e| self.user_error(py, e))?;
            let output = Body::from_py(np, &result).map_err(|e| self.user_error(py, e))??;
            Ok::<_, ComponentError>((output, self.unit(py, object)?))
        })?;
        output.reply(
            node,
            &merged,
            &unit,
            Method::Aggregate,
            form.unwrap_or(Form::Other),
        )
    }

    fn send_feedback(
        &self,
        node: &Node,
        feedback: Feedback,
        routing: Option<i32>,
    ) -> Result<FeedbackOutcome, ComponentError> {
        if self.hooks.send_feedback_raw {
            let mut value = serde_json::Map::new();
            for (key, message) in [
                ("request", &feedback.request),
                ("response", &feedback.response),
                ("truth", &feedback.truth),
            ] {
                if let Some(message) = message {
                    value.insert(key.into(), message_json(message));
                }
            }
            value.insert("reward".into(), serde_json::json!(feedback.reward));
            let value = serde_json::Value::Object(value);
            let reply = self.with_python(|py, object| {
                let arg = json_to_py(py, &value, 0).map_err(|e| self.user_error(py, e))?;
                object
                    .call_method1("send_feedback_raw", (arg,))
                    .and_then(|r| py_to_json(&r, 0))
                    .map_err(|e| self.user_error(py, e))
            })?;
            return Ok(FeedbackOutcome::Message(raw_reply(
                node,
                Method::Feedback,
                reply,
            )?));
        }
        let request = feedback.request.unwrap_or_default();
        let request_meta = request.meta;
        let (form, features, names) = match request.payload {
            Payload::None => (Form::Other, Body::Array(empty_tensor()?), Vec::new()),
            payload => decode(payload, &request_meta)?,
        };
        if !self.hooks.send_feedback {
            let unit = self.with_python(|py, object| self.unit(py, object))?;
            return Ok(FeedbackOutcome::Empty(node.unit_meta(
                &request_meta,
                &unit,
                Method::Feedback,
            )?));
        }
        let truth = match feedback.truth.map(|t| t.payload) {
            None | Some(Payload::None) => None,
            Some(payload) => Some(decode(payload, &Meta::default())?.1),
        };
        let reward = feedback.reward;
        let result = self.with_python(|py, object| {
            let np = self.numpy.bind(py);
            let result = (|| {
                let x = features.into_py(py)?;
                let names = PyList::new(py, &names)?.into_any();
                let truth = match truth {
                    Some(t) => t.into_py(py)?,
                    None => py.None().into_bound(py),
                };
                let args =
                    PyTuple::new(py, [x, names, PyFloat::new(py, reward).into_any(), truth])?;
                let routing = match routing {
                    Some(r) => r.into_pyobject(py)?.into_any(),
                    None => py.None().into_bound(py),
                };
                self.call_with_meta(object, "send_feedback", args, ("routing", routing))
            })()
            .map_err(|e| self.user_error(py, e))?;
            let output = if result.is_none() {
                None
            } else {
                Some(Body::from_py(np, &result).map_err(|e| self.user_error(py, e))??)
            };
            Ok::<_, ComponentError>((output, self.unit(py, object)?))
        });
        let (output, unit) = result?;
        Ok(match output {
            None => {
                FeedbackOutcome::Empty(node.unit_meta(&request_meta, &unit, Method::Feedback)?)
            }
            Some(output) => FeedbackOutcome::Message(output.reply(
                node,
                &request_meta,
                &unit,
                Method::Feedback,
                form,
            )?),
        })
    }

    fn health_status(&self, node: &Node) -> Result<SeldonMessage, ComponentError> {
        if self.hooks.health_status_raw {
            let reply = self.with_python(|py, object| {
                object
                    .call_method0("health_status_raw")
                    .and_then(|r| py_to_json(&r, 0))
                    .map_err(|e| self.user_error(py, e))
            })?;
            return raw_reply(node, Method::Health, reply);
        }
        let (output, unit) = self.with_python(|py, object| {
            let output = if self.hooks.health_status {
                let np = self.numpy.bind(py);
                let result = object
                    .call_method0("health_status")
                    .map_err(|e| self.user_error(py, e))?;
                Body::from_py(np, &result).map_err(|e| self.user_error(py, e))??
            } else {
                Body::Str("healthy".into())
            };
            Ok::<_, ComponentError>((output, self.unit(py, object)?))
        })?;
        output.reply(node, &Meta::default(), &unit, Method::Health, Form::Other)
    }

    fn metadata(&self) -> Option<serde_json::Value> {
        self.metadata.clone()
    }

    fn blocking(&self) -> bool {
        true
    }

    fn spawn_hook(&self, job: HookJob) -> Result<(), HookJob> {
        self.workers.spawn(job)
    }
}

/// A parameter as the wrapper passes it to the constructor: INT → int, FLOAT/DOUBLE → float, STRING → str,
/// BOOL → bool, JSON → the parsed value.
fn param_to_py<'py>(py: Python<'py>, value: &ParamValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        ParamValue::Str(s) => PyString::new(py, s).into_any(),
        ParamValue::Int(i) => i.into_pyobject(py)?.into_any(),
        ParamValue::Float(f) => PyFloat::new(py, *f).into_any(),
        ParamValue::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        ParamValue::Json(v) => json_to_py(py, v, 0)?,
    })
}

fn too_deep() -> PyErr {
    PyValueError::new_err(format!("JSON nested deeper than {MAX_DEPTH} levels"))
}

/// JSON → Python objects (`json.loads`' types).
fn json_to_py<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match value {
        serde_json::Value::Null => py.None().into_bound(py),
        serde_json::Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        serde_json::Value::String(s) => PyString::new(py, s).into_any(),
        serde_json::Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item, depth + 1)?)?;
            }
            list.into_any()
        }
        serde_json::Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v, depth + 1)?)?;
            }
            dict.into_any()
        }
    })
}

/// Python → JSON as `json.dumps` would accept it (dict keys that are not strings written as strings; anything
/// `json` cannot write is its `TypeError`).
fn py_to_json(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<serde_json::Value> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    if value.is_none() {
        return Ok(serde_json::Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(serde_json::Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(i.into());
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(u.into());
        }
        return Ok(serde_json::Value::from(value.extract::<f64>()?));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(serde_json::Value::Number)
            .ok_or_else(|| {
                PyValueError::new_err("Out of range float values are not JSON compliant")
            });
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(serde_json::Value::String(s.to_string_lossy().into_owned()));
    }
    if let Ok(d) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = if let Ok(s) = k.cast::<PyString>() {
                s.to_string_lossy().into_owned()
            } else if k.is_instance_of::<PyBool>()
                || k.is_instance_of::<PyInt>()
                || k.is_instance_of::<PyFloat>()
                || k.is_none()
            {
                match py_to_json(&k, depth + 1)? {
                    serde_json::Value::Null => "null".into(),
                    other => other.to_string(),
                }
            } else {
                return Err(PyTypeError::new_err(format!(
                    "keys must be str, int, float, bool or None, not {}",
                    k.get_type().name()?
                )));
            };
            map.insert(key, py_to_json(&v, depth + 1)?);
        }
        return Ok(serde_json::Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in value.try_iter()? {
            items.push(py_to_json(&item?, depth + 1)?);
        }
        return Ok(serde_json::Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "Object of type {} is not JSON serializable",
        value.get_type().name()?
    )))
}

/// A numpy array that owns `values` (moved into it, not copied), in `shape`.
fn owned_array<'py, T: Element>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<T>,
) -> PyResult<Bound<'py, PyAny>> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), values)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyArray::from_owned_array(py, array).into_any())
}

/// A decoded tensor as a numpy array: numbers without a copy (the buffer moves into numpy), strings as a `str`
/// array.
fn tensor_to_py(py: Python<'_>, tensor: Tensor) -> PyResult<Bound<'_, PyAny>> {
    let (shape, data) = tensor.into_parts();
    match data {
        TensorData::F64(v) => owned_array(py, &shape, v),
        TensorData::F32(v) => owned_array(py, &shape, v),
        TensorData::I64(v) => owned_array(py, &shape, v),
        TensorData::I32(v) => owned_array(py, &shape, v),
        TensorData::U8(v) => owned_array(py, &shape, v),
        TensorData::Bool(v) => owned_array(py, &shape, v),
        TensorData::Bytes(v) => {
            let strings: Vec<String> = v
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect();
            let np = py.import("numpy")?;
            np.call_method1("array", (PyList::new(py, strings)?,))?
                .call_method1("reshape", (PyTuple::new(py, shape)?,))
        }
    }
}

/// The values of a contiguous copy of `array` as `T`, by numpy's own conversion to `dtype`.
fn values<T: Element + Copy>(
    np: &Bound<'_, PyModule>,
    array: &Bound<'_, PyAny>,
    dtype: &str,
) -> PyResult<Vec<T>> {
    let kwargs = PyDict::new(np.py());
    kwargs.set_item("dtype", dtype)?;
    let contiguous = np.call_method("ascontiguousarray", (array,), Some(&kwargs))?;
    let typed = contiguous
        .cast::<PyArrayDyn<T>>()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?;
    let readonly = typed.readonly();
    Ok(readonly
        .as_slice()
        .map_err(|e| PyValueError::new_err(e.to_string()))?
        .to_vec())
}

/// The shape and values of `value` when it is a C-ordered ndarray of `T` in native byte order (what a model's
/// `predict` usually returns), read without a call into Python; `None` for anything else.
fn c_order_values<T: Element + Copy>(value: &Bound<'_, PyAny>) -> Option<(Vec<usize>, Vec<T>)> {
    let array = value.cast::<PyArrayDyn<T>>().ok()?;
    if !array.is_c_contiguous() {
        return None;
    }
    let readonly = array.try_readonly().ok()?;
    let values = readonly.as_slice().ok()?.to_vec();
    Some((array.shape().to_vec(), values))
}

/// An ndarray (or a list, through `numpy.asarray`) as a tensor: float32 stays float32, other floats are
/// float64, integers int64, booleans bool, `str`/`bytes` arrays strings; an object array is refused.
fn array_to_tensor(
    np: &Bound<'_, PyModule>,
    value: &Bound<'_, PyAny>,
) -> PyResult<Result<Tensor, ComponentError>> {
    let fast = c_order_values::<f64>(value)
        .map(|(shape, v)| (shape, TensorData::F64(v)))
        .or_else(|| c_order_values::<f32>(value).map(|(shape, v)| (shape, TensorData::F32(v))));
    if let Some((shape, data)) = fast {
        return Ok(Tensor::new(shape, data).map_err(|e| ComponentError::internal(e.to_string())));
    }
    let array = np.call_method1("asarray", (value,))?;
    let dtype = array.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    let itemsize: usize = dtype.getattr("itemsize")?.extract()?;
    let shape: Vec<usize> = array.getattr("shape")?.extract()?;
    let data = match kind.as_str() {
        "f" if itemsize == 4 => TensorData::F32(values(np, &array, "float32")?),
        "f" => TensorData::F64(values(np, &array, "float64")?),
        "i" | "u" => TensorData::I64(values(np, &array, "int64")?),
        "b" => TensorData::Bool(values(np, &array, "bool")?),
        "U" => {
            let flat: Vec<String> = array
                .call_method0("ravel")?
                .call_method0("tolist")?
                .extract()?;
            TensorData::Bytes(flat.into_iter().map(String::into_bytes).collect())
        }
        "S" => TensorData::Bytes(
            array
                .call_method0("ravel")?
                .call_method0("tolist")?
                .extract()?,
        ),
        other => {
            return Ok(Err(ComponentError::internal(format!(
                "cannot answer a numpy array of dtype kind {other:?} (numbers, booleans or strings only)"
            ))));
        }
    };
    Ok(Tensor::new(shape, data).map_err(|e| ComponentError::internal(e.to_string())))
}
