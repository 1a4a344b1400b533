//! Many models in one server: the V2 model repository (MLServer's and Triton's `RepositoryIndex` /
//! `RepositoryModelLoad` / `RepositoryModelUnload`, what Seldon Core 2's agent, ModelMesh's adapter and KServe's
//! TrainedModel agent call).
//!
//! A [`ModelRepository`] holds models by name, each with a [`ModelState`] and a reason. Its models come from a
//! models folder laid out as MLServer's (`model-settings.json` files found recursively, `parameters.uri` relative
//! to the settings file's folder; a folder without one is recognised by its files) and are built by a
//! [`LoaderRegistry`] that each server binary fills with the formats it knows.
//!
//! What callers may rely on:
//! - loads run on a blocking thread, never on the request path: inference on other models goes on meanwhile;
//! - loads and unloads of one name are serialised (one at a time per name; other names proceed);
//! - loading a name that is loaded replaces it atomically: requests already holding the old model finish on it,
//!   the new one answers once it is ready; a failed reload keeps the old model serving (its reason says why);
//! - an unloaded model's memory is released when its last in-flight request ends (the repository keeps no
//!   reference). Model buffers are large allocations, which glibc's malloc serves with `mmap` and returns to the
//!   OS on free.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use oxserve_core::Model;

use crate::metrics::{Metrics, ModelSeries};
use crate::state::CostEstimate;

/// The file MLServer reads a model's settings from.
pub const MODEL_SETTINGS: &str = "model-settings.json";

/// How deep below the models folder settings files are looked for (Seldon Core 2's `<model>_<ver>/1/` is 2).
const MAX_DEPTH: usize = 8;

/// A model's state in the index: the strings MLServer, Triton and Seldon Core 2's agent use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelState {
    /// Loaded and answering.
    Ready,
    /// Being loaded (a loaded model of the same name, if any, still answers).
    Loading,
    /// Found but not loaded, or its load failed (the reason says why).
    Unavailable,
    /// Being unloaded.
    Unloading,
}

impl ModelState {
    /// The state's wire name: `READY`, `LOADING`, `UNAVAILABLE`, `UNLOADING`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Ready => "READY",
            ModelState::Loading => "LOADING",
            ModelState::Unavailable => "UNAVAILABLE",
            ModelState::Unloading => "UNLOADING",
        }
    }
}

/// One model as the repository found it on disk: what a loader is given.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSource {
    /// The model's name (`name` in `model-settings.json`, else its folder's name).
    pub name: String,
    /// `parameters.version`, if any.
    pub version: Option<String>,
    /// `implementation` (MLServer's class path, or oxserve's own name), or the one its files were recognised as.
    pub implementation: String,
    /// The model's files: `parameters.uri` resolved against the settings file's folder, else that folder.
    pub uri: PathBuf,
    /// `parameters.extra` (an empty object when absent).
    pub extra: serde_json::Value,
    /// The whole settings file (`null` for a folder recognised by its files): `max_batch_size`, `inputs`, ….
    pub settings: serde_json::Value,
}

impl ModelSource {
    /// The node parameters a family's loader reads: `parameters.extra` (MLServer's free-form settings), plus the
    /// settings file's top-level fields named in `settings_keys` (`max_batch_size`, … for a loader that batches
    /// by itself), typed as Seldon's parameters are (`INT`, `FLOAT`, `BOOL`, `STRING`, else `JSON`).
    pub fn parameters(&self, settings_keys: &[&str]) -> anyhow::Result<crate::Parameters> {
        let mut list = Vec::new();
        let mut push = |name: &str, value: &serde_json::Value| {
            let (value, kind) = match value {
                serde_json::Value::Bool(b) => (b.to_string(), "BOOL"),
                serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => (n.to_string(), "INT"),
                serde_json::Value::Number(n) => (n.to_string(), "FLOAT"),
                serde_json::Value::String(s) => (s.clone(), "STRING"),
                serde_json::Value::Null => return,
                other => (other.to_string(), "JSON"),
            };
            list.push(serde_json::json!({"name": name, "value": value, "type": kind}));
        };
        match &self.extra {
            serde_json::Value::Object(extra) => {
                for (name, value) in extra {
                    push(name, value);
                }
            }
            serde_json::Value::Null => {}
            _ => anyhow::bail!("`parameters.extra` must be an object"),
        }
        for key in settings_keys {
            if let Some(value) = self.settings.get(*key) {
                push(key, value);
            }
        }
        Ok(crate::Parameters::parse(
            &serde_json::Value::Array(list).to_string(),
        )?)
    }
}

/// Builds a model from its source; the error is the reason the index shows.
pub type ModelLoader = Arc<dyn Fn(&ModelSource) -> anyhow::Result<Arc<dyn Model>> + Send + Sync>;

/// One implementation a registry knows: a loader, or the reason this build cannot load it.
#[derive(Clone)]
enum Slot {
    Available(ModelLoader),
    Unavailable(String),
}

/// The formats a server binary can load, by `implementation` name, and the files that mark a folder without
/// settings as one of them.
#[derive(Clone, Default)]
pub struct LoaderRegistry {
    slots: Vec<(String, Slot)>,
    files: Vec<(String, String)>,
}

impl std::fmt::Debug for LoaderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoaderRegistry")
            .field(
                "implementations",
                &self.slots.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl LoaderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        LoaderRegistry::default()
    }

    /// Registers `loader` under each of `implementations` (MLServer's class path and oxserve's short name); a
    /// folder without settings holding one of `files` is taken as the first implementation.
    pub fn register(
        mut self,
        implementations: &[&str],
        files: &[&str],
        loader: impl Fn(&ModelSource) -> anyhow::Result<Arc<dyn Model>> + Send + Sync + 'static,
    ) -> Self {
        let loader: ModelLoader = Arc::new(loader);
        for name in implementations {
            self.slots
                .push(((*name).to_string(), Slot::Available(loader.clone())));
        }
        if let Some(first) = implementations.first() {
            for file in files {
                self.files.push(((*file).to_string(), (*first).to_string()));
            }
        }
        self
    }

    /// Registers implementations this build knows of but cannot load: their models fail with `reason`.
    pub fn unavailable(mut self, implementations: &[&str], reason: &str) -> Self {
        for name in implementations {
            self.slots
                .push(((*name).to_string(), Slot::Unavailable(reason.to_string())));
        }
        self
    }

    /// Loads `source` with its implementation's loader.
    pub fn load(&self, source: &ModelSource) -> anyhow::Result<Arc<dyn Model>> {
        match self
            .slots
            .iter()
            .find(|(name, _)| *name == source.implementation)
        {
            Some((_, Slot::Available(loader))) => loader(source),
            Some((name, Slot::Unavailable(reason))) => {
                anyhow::bail!("implementation {name} is not available in this build: {reason}")
            }
            None => anyhow::bail!(
                "implementation {:?} is not one this server runs (custom Python code is not supported); known: {}",
                source.implementation,
                self.known().join(", ")
            ),
        }
    }

    /// Loads the model folder (or file) `dir` as the implementation its files mark: how a server given one
    /// model (`--model-uri`) loads it with the registry.
    pub fn load_dir(&self, name: &str, dir: &Path) -> anyhow::Result<Arc<dyn Model>> {
        let (implementation, uri) = if dir.is_file() {
            let file = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let implementation = self
                .files
                .iter()
                .find(|(known, _)| file.ends_with(known.trim_start_matches("model")))
                .map(|(_, implementation)| implementation.clone());
            (implementation, dir.to_path_buf())
        } else {
            match self.detect(dir) {
                Some((implementation, uri)) => (Some(implementation), uri),
                None => (None, dir.to_path_buf()),
            }
        };
        let Some(implementation) = implementation else {
            anyhow::bail!(
                "no model file this server knows in {}: expected one of {}",
                dir.display(),
                self.files
                    .iter()
                    .map(|(f, _)| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        self.load(&ModelSource {
            name: name.to_string(),
            version: None,
            implementation,
            uri,
            extra: serde_json::json!({}),
            settings: serde_json::Value::Null,
        })
    }

    /// The implementation names it knows, in registration order.
    pub fn known(&self) -> Vec<&str> {
        self.slots.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The implementation a folder's files mark it as, looking in the folder and its numeric version folders.
    fn detect(&self, dir: &Path) -> Option<(String, PathBuf)> {
        let mut candidates = vec![dir.to_path_buf()];
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut versions: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect();
            versions.sort();
            candidates.extend(versions.into_iter().rev());
        }
        candidates.into_iter().find_map(|folder| {
            self.files
                .iter()
                .find(|(file, _)| folder.join(file).is_file())
                .map(|(_, implementation)| (implementation.clone(), folder.clone()))
        })
    }
}

/// What the repository found under one name: a source to load, or why the settings could not be read.
type Found = Result<ModelSource, String>;

/// A loaded model as requests meet it: held by each request for its duration, so an unload or replace never
/// pulls a model from under a running call.
pub struct ServedModel {
    /// The model's name on V2 routes.
    pub name: String,
    /// Its version, if any.
    pub version: Option<String>,
    /// The model.
    pub model: Arc<dyn Model>,
    pub(crate) cost: Arc<CostEstimate>,
    /// Its inference metrics, resolved as it entered the repository (none on a repository without metrics).
    pub(crate) series: Option<ModelSeries>,
}

impl std::fmt::Debug for ServedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedModel")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The model's name.
    pub name: String,
    /// Its version ("" when none).
    pub version: String,
    /// Its state.
    pub state: ModelState,
    /// Why it is in that state ("" when READY without a story).
    pub reason: String,
}

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// No model of that name in the repository (or, for unload, none loaded).
    #[error("{0}")]
    NotFound(String),
    /// The model was found but did not load; the index shows the same reason.
    #[error("failed to load model {name}: {reason}")]
    LoadFailed {
        /// The model's name.
        name: String,
        /// Why.
        reason: String,
    },
}

#[derive(Default)]
struct Entry {
    version: Option<String>,
    state: Option<ModelState>,
    reason: String,
    served: Option<Arc<ServedModel>>,
}

/// Many models by name; see the module's documentation for what it guarantees.
pub struct ModelRepository {
    dir: Option<PathBuf>,
    registry: LoaderRegistry,
    entries: RwLock<BTreeMap<String, Entry>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for ModelRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRepository")
            .field("dir", &self.dir)
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Default for ModelRepository {
    fn default() -> Self {
        ModelRepository::new(None, LoaderRegistry::new())
    }
}

impl ModelRepository {
    /// A repository over the models folder `dir` (none: only models added with [`ModelRepository::insert`]).
    pub fn new(dir: Option<PathBuf>, registry: LoaderRegistry) -> Self {
        ModelRepository {
            dir,
            registry,
            entries: RwLock::new(BTreeMap::new()),
            locks: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Gives every model that enters the repository from now on its per-model series in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The models folder, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Adds a model already loaded (a one-model server's own) as READY.
    pub fn insert(&self, name: &str, version: Option<String>, model: Arc<dyn Model>) {
        self.insert_with_cost(name, version, model, Arc::default());
    }

    pub(crate) fn insert_with_cost(
        &self,
        name: &str,
        version: Option<String>,
        model: Arc<dyn Model>,
        cost: Arc<CostEstimate>,
    ) {
        let series = self
            .metrics
            .as_ref()
            .map(|metrics| metrics.model(name, version.as_deref()));
        let served = Arc::new(ServedModel {
            name: name.to_string(),
            version: version.clone(),
            model,
            cost,
            series,
        });
        self.write().insert(
            name.to_string(),
            Entry {
                version,
                state: Some(ModelState::Ready),
                reason: String::new(),
                served: Some(served),
            },
        );
    }

    /// The loaded model `name` (and `version`, when given), for one request.
    pub fn get(&self, name: &str, version: Option<&str>) -> Option<Arc<ServedModel>> {
        let entries = self.read();
        let served = entries.get(name)?.served.as_ref()?;
        match version {
            Some(v) if served.version.as_deref() != Some(v) => None,
            _ => Some(served.clone()),
        }
    }

    /// How many models are loaded.
    pub fn loaded(&self) -> usize {
        self.read().values().filter(|e| e.served.is_some()).count()
    }

    /// The loaded model when exactly one is: what routes that name no model use on a models-folder server.
    pub fn single(&self) -> Option<Arc<ServedModel>> {
        let entries = self.read();
        let mut loaded = entries.values().filter_map(|e| e.served.as_ref());
        match (loaded.next(), loaded.next()) {
            (Some(one), None) => Some(one.clone()),
            _ => None,
        }
    }

    /// Every model found on disk or known to the repository, with its state, sorted by name; `ready_only`
    /// keeps the READY ones (the index request's `ready` flag).
    pub fn index(&self, ready_only: bool) -> Vec<IndexEntry> {
        let found = self.scan();
        let entries = self.read();
        let mut rows: BTreeMap<String, IndexEntry> = BTreeMap::new();
        for (name, found) in &found {
            let (version, reason) = match found {
                Ok(source) => (source.version.clone().unwrap_or_default(), String::new()),
                Err(reason) => (String::new(), reason.clone()),
            };
            rows.insert(
                name.clone(),
                IndexEntry {
                    name: name.clone(),
                    version,
                    state: ModelState::Unavailable,
                    reason,
                },
            );
        }
        for (name, entry) in entries.iter() {
            let state = entry.state.unwrap_or(ModelState::Unavailable);
            let row = rows.entry(name.clone()).or_insert_with(|| IndexEntry {
                name: name.clone(),
                version: String::new(),
                state,
                reason: String::new(),
            });
            row.state = state;
            if let Some(v) = &entry.version {
                row.version = v.clone();
            }
            if !entry.reason.is_empty() {
                row.reason = entry.reason.clone();
            }
        }
        rows.into_values()
            .filter(|row| !ready_only || row.state == ModelState::Ready)
            .collect()
    }

    /// Loads (or reloads) `name` from the models folder, off the request path; see the module's documentation.
    pub async fn load(&self, name: &str) -> Result<(), RepositoryError> {
        let lock = self.name_lock(name);
        let _serial = lock.lock().await;
        let found = match self.find(name) {
            Some(found) => found,
            None if self.get(name, None).is_some() && self.dir.is_none() => return Ok(()),
            None => {
                return Err(RepositoryError::NotFound(format!(
                    "Model {name} not found in the model repository"
                )));
            }
        };
        let source = match found {
            Ok(source) => source,
            Err(reason) => return Err(self.failed(name, None, reason)),
        };
        self.set_state(name, ModelState::Loading, source.version.clone());
        let registry = self.registry.clone();
        let loading = source.clone();
        let result = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| registry.load(&loading)))
        })
        .await;
        let model = match result {
            Ok(Ok(Ok(model))) => model,
            Ok(Ok(Err(e))) => return Err(self.failed(name, source.version, format!("{e:#}"))),
            Ok(Err(_)) | Err(_) => {
                return Err(self.failed(name, source.version, "the loader panicked".into()));
            }
        };
        self.insert(name, source.version, model);
        tracing::info!(model = name, "model loaded");
        Ok(())
    }

    /// Unloads `name`: new requests get NOT_FOUND at once; its memory goes when in-flight requests end.
    pub async fn unload(&self, name: &str) -> Result<(), RepositoryError> {
        let lock = self.name_lock(name);
        let _serial = lock.lock().await;
        let served = {
            let mut entries = self.write();
            let entry = entries.get_mut(name).filter(|e| e.served.is_some());
            let Some(entry) = entry else {
                return Err(RepositoryError::NotFound(format!(
                    "Model {name} is not loaded"
                )));
            };
            entry.state = Some(ModelState::Unloading);
            entry.served.take()
        };
        // Dropped outside the lock: the last reference frees the model (a big forest takes a while).
        drop(served);
        let mut entries = self.write();
        if let Some(entry) = entries.get_mut(name) {
            entry.state = Some(ModelState::Unavailable);
            entry.reason = "unloaded".into();
        }
        tracing::info!(model = name, "model unloaded");
        Ok(())
    }

    /// Loads every model found on disk (MLServer's `load_models_at_startup`); failures stay in the index.
    pub async fn load_all(&self) {
        let names: Vec<String> = self.scan().into_keys().collect();
        for name in names {
            if let Err(e) = self.load(&name).await {
                tracing::warn!(model = %name, "{e}");
            }
        }
    }

    fn failed(&self, name: &str, version: Option<String>, reason: String) -> RepositoryError {
        let mut entries = self.write();
        let entry = entries.entry(name.to_string()).or_default();
        if entry.served.is_some() {
            entry.state = Some(ModelState::Ready);
        } else {
            entry.state = Some(ModelState::Unavailable);
            entry.version = version;
        }
        entry.reason = reason.clone();
        drop(entries);
        tracing::warn!(model = name, %reason, "model failed to load");
        RepositoryError::LoadFailed {
            name: name.to_string(),
            reason,
        }
    }

    fn set_state(&self, name: &str, state: ModelState, version: Option<String>) {
        let mut entries = self.write();
        let entry = entries.entry(name.to_string()).or_default();
        if entry.served.is_none() {
            entry.state = Some(state);
            entry.version = version;
        }
        entry.reason.clear();
    }

    fn name_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The model `name` on disk: first in the folder of that name (Seldon Core 2's and ModelMesh's layout),
    /// else anywhere below the models folder.
    fn find(&self, name: &str) -> Option<Found> {
        let dir = self.dir.as_deref()?;
        let own = dir.join(name);
        if is_plain_name(name) && own.is_dir() {
            let mut found = BTreeMap::new();
            scan_into(dir, &own, 0, &self.registry, &mut found, true);
            if let Some(hit) = found.remove(name) {
                return Some(hit);
            }
        }
        self.scan().remove(name)
    }

    /// Every model below the models folder, by name.
    fn scan(&self) -> BTreeMap<String, Found> {
        let mut found = BTreeMap::new();
        if let Some(dir) = self.dir.as_deref()
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            children.sort();
            if dir.join(MODEL_SETTINGS).is_file() {
                children.insert(0, dir.to_path_buf());
            }
            for child in children.into_iter().filter(|c| c.is_dir()) {
                let top = child != dir;
                scan_into(
                    dir,
                    &child,
                    usize::from(top),
                    &self.registry,
                    &mut found,
                    top,
                );
            }
        }
        found
    }
}

/// Whether `name` is one path component (no separators, no `..`).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\'])
}

/// Reads `folder` (at `depth` below `root`) into `found`: its settings file, else (for a top folder) the model
/// its files mark, then its subfolders.
fn scan_into(
    root: &Path,
    folder: &Path,
    depth: usize,
    registry: &LoaderRegistry,
    found: &mut BTreeMap<String, Found>,
    top: bool,
) {
    let settings = folder.join(MODEL_SETTINGS);
    if settings.is_file() {
        let (name, source) = read_settings(root, &settings);
        found.entry(name).or_insert(source);
        if folder != root {
            return;
        }
    }
    if depth < MAX_DEPTH
        && folder != root
        && let Ok(entries) = std::fs::read_dir(folder)
    {
        let mut children: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        children.sort();
        let before = found.len();
        for child in children {
            scan_into(root, &child, depth + 1, registry, found, false);
        }
        if found.len() > before {
            return;
        }
    }
    // A top folder with no settings file anywhere below it: a model recognised by its files.
    if top
        && let Some(name) = folder.file_name().and_then(|n| n.to_str())
        && let Some((implementation, files)) = registry.detect(folder)
    {
        found.entry(name.to_string()).or_insert(Ok(ModelSource {
            name: name.to_string(),
            version: None,
            implementation,
            uri: files,
            extra: serde_json::json!({}),
            settings: serde_json::Value::Null,
        }));
    }
}

/// Reads one `model-settings.json`: the model's name (its folder's name when the file cannot say) and its
/// source or why it cannot load.
fn read_settings(root: &Path, file: &Path) -> (String, Found) {
    let folder = file.parent().unwrap_or(root);
    let folder_name = folder
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let value: serde_json::Value = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(value) => value,
        Err(e) => {
            return (
                folder_name,
                Err(format!("cannot read {}: {e}", file.display())),
            );
        }
    };
    let name = match value.get("name") {
        Some(serde_json::Value::String(name)) if !name.is_empty() => name.clone(),
        Some(_) => {
            return (
                folder_name,
                Err(format!(
                    "{}: `name` must be a non-empty string",
                    file.display()
                )),
            );
        }
        None => folder_name,
    };
    let source = source_from_settings(root, folder, &name, value);
    (name, source.map_err(|e| format!("{}: {e}", file.display())))
}

fn source_from_settings(
    root: &Path,
    folder: &Path,
    name: &str,
    settings: serde_json::Value,
) -> Result<ModelSource, String> {
    let implementation = match settings.get("implementation") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err("`implementation` must be a non-empty string".into()),
        None => return Err("`implementation` is missing".into()),
    };
    let parameters = settings.get("parameters").cloned().unwrap_or_default();
    if !(parameters.is_null() || parameters.is_object()) {
        return Err("`parameters` must be an object".into());
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match parameters.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`parameters.{key}` must be a string")),
        }
    };
    let version = text("version")?;
    let uri = match text("uri")? {
        None => folder.to_path_buf(),
        Some(uri) => resolve_uri(root, folder, &uri)?,
    };
    let extra = parameters
        .get("extra")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    Ok(ModelSource {
        name: name.to_string(),
        version,
        implementation,
        uri,
        extra,
        settings,
    })
}

/// `parameters.uri` against the settings file's folder; it must stay inside the models folder.
fn resolve_uri(root: &Path, folder: &Path, uri: &str) -> Result<PathBuf, String> {
    let uri = uri.strip_prefix("file://").unwrap_or(uri);
    let path = folder.join(uri);
    let resolved = path
        .canonicalize()
        .map_err(|e| format!("`parameters.uri` {uri:?}: {e}"))?;
    let root = root.canonicalize().map_err(|e| e.to_string())?;
    if !resolved.starts_with(&root) {
        return Err(format!(
            "`parameters.uri` {uri:?} points outside the models folder {}",
            root.display()
        ));
    }
    Ok(resolved)
}

/// The server's own model when it serves only a models folder: it names no inputs, and the routes that do not
/// name a model (Seldon v1, KServe V1) use the repository's one loaded model instead ([`crate::ServerState::predict`]).
pub(crate) fn no_model() -> Arc<dyn Model> {
    Arc::new(NoModel(oxserve_core::ModelMetadata {
        platform: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
    }))
}

struct NoModel(oxserve_core::ModelMetadata);

impl Model for NoModel {
    fn metadata(&self) -> &oxserve_core::ModelMetadata {
        &self.0
    }

    fn predict(
        &self,
        _request: oxserve_core::PredictRequest,
    ) -> Result<oxserve_core::PredictResponse, oxserve_core::ModelError> {
        Err(oxserve_core::ModelError::BadInput(NO_SINGLE_MODEL.into()))
    }
}

/// Why a route that names no model cannot answer on a models-folder server.
pub(crate) const NO_SINGLE_MODEL: &str = "this server serves a models folder and does not hold exactly one \
    loaded model: name the model on the V2 routes (/v2/models/{name}/infer)";
