//! A small seeded xorshift generator the tree engines' tests share (included with `#[path]`; tests need no `rand`):
//! random trees in `oxserve-trees`, mutated model bytes in `oxserve-xgboost`'s fuzz smoke run.
#![allow(dead_code)]

/// Xorshift64* from a non-zero seed.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A number in [0, 1) in steps of 1e-4.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() % 10_000) as f64 / 10_000.0
    }
}
