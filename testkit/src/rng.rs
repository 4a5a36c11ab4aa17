//! One small deterministic generator, so that garbage and mutations are reproducible.

/// Xorshift64: fast, seeded, good enough for test inputs.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (made odd: xorshift never leaves zero).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index into something of `len` elements (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        // usize is at most 64 bits wide, so the result fits.
        self.below(len as u64) as usize
    }

    /// Between 1 and `max` random bytes.
    pub fn junk(&mut self, max: u64) -> Vec<u8> {
        let n = 1 + self.index(max as usize);
        self.bytes(n)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
