//! The model memory budget: one number of bytes that a read may hold at once, derived from the container's memory
//! limit, and the meter that every large buffer of a read is charged to before it is allocated.
//!
//! What is charged: the file's bytes, the decompressed stream, an xz/lzma decoder's dictionary, every decoded
//! array (after widening to 64-bit values), and every copy of input-controlled data the VM and the tree builder
//! make. The meter only ever grows during a read (a few transient buffers are charged and never credited), so the
//! budget bounds the read's peak memory from above.

use std::cell::Cell;

use crate::PickleError;

/// The share of the container's memory limit (or of the machine's memory when there is none) that one model
/// read may use: the rest is for the server itself, the model's own structures built from the read, and requests.
const SHARE_DIVISOR: u64 = 2;
/// The budget when neither a cgroup limit nor `/proc/meminfo` can be read.
const FALLBACK_BUDGET: u64 = 2 << 30;
/// The most a read may use when the process has no memory limit (a laptop, a VM, a pod without `resources.limits`):
/// half of a large machine's memory is no protection against a compression bomb, and a model that really needs
/// more is served with an explicit `--max-model-memory`.
const UNCONTAINED_CAP: u64 = 2 << 30;
/// cgroup v1 reports "no limit" as a huge number (`PAGE_COUNTER_MAX` pages, about 2^63): anything from 2^60 up
/// means unlimited.
const UNLIMITED_FROM: u64 = 1 << 60;

/// The default model memory budget, in bytes: half of the container's memory limit (cgroup v2 `memory.max`, else
/// cgroup v1 `memory.limit_in_bytes`), or half of the machine's memory (`MemTotal`) when that is smaller; without
/// a container limit, half of the machine's memory but at most 2 GiB; 2 GiB when neither can be read. Computed once
/// per process.
///
/// Servers take an explicit override (`--max-model-memory`) and pass it in [`crate::Limits::max_memory_bytes`].
pub fn default_memory_budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let cgroups = read("/proc/self/cgroup").unwrap_or_default();
        // The process's cgroup for a hierarchy (v2: `0::/path`; v1: `N:memory:/path`).
        let own = |v1: bool| {
            cgroups.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                let matches = if v1 {
                    controllers.split(',').any(|c| c == "memory")
                } else {
                    controllers.is_empty()
                };
                matches.then(|| path.trim().trim_end_matches('/').to_string())
            })
        };
        let v2 = tightest(own(false), "/sys/fs/cgroup", "memory.max");
        let v1 = tightest(own(true), "/sys/fs/cgroup/memory", "memory.limit_in_bytes");
        memory_budget_from(
            v2.as_deref(),
            v1.as_deref(),
            read("/proc/meminfo").as_deref(),
        )
    })
}

/// The tightest `file` limit of the cgroup at `path` under `root` and of each of its ancestors (the limits nest),
/// as the file's text.
fn tightest(path: Option<String>, root: &str, file: &str) -> Option<String> {
    let mut path = path.unwrap_or_default();
    let mut best: Option<String> = None;
    loop {
        if let Ok(limit) = std::fs::read_to_string(format!("{root}{path}/{file}")) {
            let value = |s: &str| s.trim().parse::<u64>().unwrap_or(u64::MAX);
            if best.as_deref().is_none_or(|old| value(&limit) < value(old)) {
                best = Some(limit);
            }
        }
        match path.rfind('/') {
            Some(i) => path.truncate(i),
            None => return best,
        }
    }
}

/// [`default_memory_budget`] from the contents of cgroup v2 `memory.max`, cgroup v1 `memory.limit_in_bytes` and
/// `/proc/meminfo` (each `None` when unreadable).
pub fn memory_budget_from(
    cgroup_v2_max: Option<&str>,
    cgroup_v1_limit: Option<&str>,
    meminfo: Option<&str>,
) -> u64 {
    let limit = |s: &str| {
        s.trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0 && n < UNLIMITED_FROM)
    };
    let cgroup = cgroup_v2_max
        .and_then(limit)
        .or_else(|| cgroup_v1_limit.and_then(limit));
    let total = meminfo.and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb.saturating_mul(1024))
            .filter(|&n| n > 0)
    });
    match (cgroup, total) {
        (Some(c), Some(t)) => (c.min(t) / SHARE_DIVISOR).max(1),
        (Some(c), None) => (c / SHARE_DIVISOR).max(1),
        (None, Some(t)) => (t / SHARE_DIVISOR).clamp(1, UNCONTAINED_CAP),
        (None, None) => FALLBACK_BUDGET,
    }
}

/// The running total of one read against its budget. Shared by the decompressor, the VM, nested VMs (joblib's
/// object arrays) and the tree builder.
#[derive(Debug)]
pub(crate) struct Meter {
    budget: u64,
    used: Cell<u64>,
}

impl Meter {
    pub(crate) fn new(budget: u64) -> Meter {
        Meter {
            budget,
            used: Cell::new(0),
        }
    }

    /// The budget in bytes.
    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    /// Bytes still free.
    pub(crate) fn left(&self) -> u64 {
        self.budget.saturating_sub(self.used.get())
    }

    /// Charges `bytes` for `what` (called before the buffer is allocated), or says what did not fit.
    pub(crate) fn charge(
        &self,
        bytes: u64,
        what: impl FnOnce() -> String,
    ) -> Result<(), PickleError> {
        let used = self.used.get();
        match used.checked_add(bytes).filter(|&n| n <= self.budget) {
            Some(n) => {
                self.used.set(n);
                Ok(())
            }
            None => Err(PickleError::MemoryBudget {
                what: what(),
                needed: bytes,
                used,
                budget: self.budget,
            }),
        }
    }

    /// Returns `bytes` to the budget once their buffer is freed.
    pub(crate) fn release(&self, bytes: u64) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_from_cgroups_and_meminfo() {
        let meminfo = "MemTotal:       24683784 kB\nMemFree:  1 kB\n";
        let total = 24_683_784 * 1024;
        // cgroup v2 limit below the machine's memory: half of it.
        assert_eq!(
            memory_budget_from(Some("2147483648\n"), None, Some(meminfo)),
            1 << 30
        );
        // v2 "max" (no limit): half the machine, at most 2 GiB.
        assert_eq!(
            memory_budget_from(Some("max\n"), None, Some(meminfo)),
            UNCONTAINED_CAP
        );
        let small = "MemTotal:       2097152 kB\n";
        assert_eq!(memory_budget_from(None, None, Some(small)), 1 << 30);
        // v1, and v1's "unlimited" sentinel.
        assert_eq!(
            memory_budget_from(None, Some("1073741824"), None),
            512 << 20
        );
        assert_eq!(
            memory_budget_from(None, Some("9223372036854771712"), Some(meminfo)),
            UNCONTAINED_CAP
        );
        // A limit above the machine's memory does not raise the budget.
        assert_eq!(
            memory_budget_from(Some("107374182400"), None, Some(meminfo)),
            total / 2
        );
        assert_eq!(memory_budget_from(None, None, None), FALLBACK_BUDGET);
        assert!(default_memory_budget() > 0);
    }

    #[test]
    fn the_tightest_limit_of_the_cgroup_and_its_ancestors_applies() {
        let root = std::env::temp_dir().join(format!("oxserve-cgroup-{}", std::process::id()));
        let leaf = root.join("kubepods/pod1/ctr");
        std::fs::create_dir_all(&leaf).unwrap();
        std::fs::write(root.join("memory.max"), "max\n").unwrap();
        std::fs::write(root.join("kubepods/memory.max"), "8589934592\n").unwrap();
        std::fs::write(root.join("kubepods/pod1/memory.max"), "1073741824\n").unwrap();
        std::fs::write(leaf.join("memory.max"), "max\n").unwrap();
        let root_text = root.display().to_string();
        let found = tightest(Some("/kubepods/pod1/ctr".into()), &root_text, "memory.max");
        assert_eq!(found.as_deref(), Some("1073741824\n"));
        assert_eq!(
            tightest(None, &root_text, "memory.max").as_deref(),
            Some("max\n")
        );
        assert_eq!(tightest(None, &root_text, "absent"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn meter_refuses_past_the_budget() {
        let m = Meter::new(100);
        assert!(m.charge(60, String::new).is_ok());
        let e = m.charge(41, || "array".into()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "model memory budget of 100 bytes exceeded: array needs 41 bytes, 60 already in use"
        );
        m.release(60);
        assert_eq!(m.left(), 100);
        assert!(m.charge(u64::MAX, String::new).is_err());
    }
}
