// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! The bounds one build works under while it turns untrusted bytes into files: a disk budget
//! shared by everything the build unpacks, pulls or downloads (`--max-build-disk`), a
//! decompression ratio check on every compressed stream (`--max-compression-ratio`), and the
//! size and time limits of ADD's URL downloads (`--add-url-max-size`, `--add-url-timeout`).
//!
//! What counts against the disk budget: every tar entry unpacked (its content, at the size
//! its header declares, which for a sparse entry is its apparent size, plus [`ENTRY_COST`]
//! bytes for the inode and directory entry), every base layer pulled (its descriptor's size)
//! and every byte downloaded. An entry is charged before it is written, so a header that
//! claims more than what is left fails before a byte lands on disk.
//!
//! The ratio check: once a stream has produced more than [`RATIO_MIN_OUTPUT`] bytes, it may
//! not have produced more than `--max-compression-ratio` times the compressed bytes read so
//! far. gzip cannot exceed about 1032:1, so the default ([`DEFAULT_MAX_RATIO`]) only ever
//! stops zstd, xz and bzip2 streams, which can expand without bound; a stream of under
//! 64 MiB is never refused for its ratio (real layers full of zeros stay small).

use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What each tar entry costs besides its content (inode and directory entry).
pub const ENTRY_COST: u64 = 512;
/// `--max-build-disk` when not given, unless the disk has less free space.
pub const DEFAULT_MAX_BUILD_DISK: u64 = 32 << 30;
/// Without `--max-build-disk`, the share (percent) of the free space of the build's
/// temporary directory a build may use when that is less than [`DEFAULT_MAX_BUILD_DISK`].
pub const DEFAULT_FREE_SHARE: u64 = 90;
/// `--max-compression-ratio` when not given.
pub const DEFAULT_MAX_RATIO: u64 = 2000;
/// Output a stream produces before its ratio is checked.
pub const RATIO_MIN_OUTPUT: u64 = 64 << 20;
/// `--add-url-max-size` when not given.
pub const DEFAULT_ADD_URL_MAX_SIZE: u64 = 8 << 30;
/// `--add-url-timeout` when not given, seconds.
pub const DEFAULT_ADD_URL_TIMEOUT: u64 = 1800;
/// Connecting to an ADD URL's server, at most (and never more than `--add-url-timeout`).
pub const ADD_URL_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// An ADD URL download that receives nothing for this long fails (and never later than
/// `--add-url-timeout`).
pub const ADD_URL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A number of bytes, read as `--max-build-disk 20GiB` and shown as `20 GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses a size: a number of bytes, or a number with `K`, `M`, `G` or `T` (powers of
    /// 1024, as `docker run --memory` reads them), optionally followed by `B` or `iB`, in any
    /// case: `1048576`, `512k`, `20GiB`, `1.5G`.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let bad = || format!("{text:?} is not a size (e.g. 512MiB, 20GiB, 1048576)");
        if number.is_empty() {
            return Err(bad());
        }
        let unit = unit.trim().to_ascii_lowercase();
        let shift = match unit.as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(format!("{text:?}: unknown unit (use K, M, G or T)")),
        };
        let bytes = if let Some((whole, fraction)) = number.split_once('.') {
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            if fraction.is_empty()
                || fraction.len() > 6
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(bad());
            }
            let scale = 10u128.pow(fraction.len() as u32);
            let fraction: u128 = fraction.parse().map_err(|_| bad())?;
            let total = (u128::from(whole) * scale + fraction) << shift;
            u64::try_from(total / scale).map_err(|_| bad())?
        } else {
            let value: u64 = number.parse().map_err(|_| bad())?;
            value.checked_mul(1 << shift).ok_or_else(bad)?
        };
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut unit = 0;
        while unit + 1 < UNITS.len() && self.0 >= 1u64 << (10 * (unit + 1)) {
            unit += 1;
        }
        // One decimal at most, none when it would be `.0` (a limit of 1 MiB and an entry of
        // 5 MiB plus its 512-byte entry cost both read as whole numbers).
        let scale = 1u64 << (10 * unit);
        let shown = format!("{:.1}", self.0 as f64 / scale as f64);
        let shown = shown.strip_suffix(".0").unwrap_or(&shown);
        write!(f, "{shown} {}", UNITS[unit])
    }
}

/// A bound was reached. The message names the limit, its flag and what was being done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// The build's disk budget is spent.
    #[error(
        "{what} ({wanted}) would take the build past --max-build-disk {limit} \
         ({used} written before it)"
    )]
    Disk {
        /// What was about to be written.
        what: String,
        /// Its size.
        wanted: ByteSize,
        /// What the build had written before.
        used: ByteSize,
        /// The limit.
        limit: ByteSize,
    },
    /// A compressed stream expands too much.
    #[error(
        "{what} decompresses to more than {ratio} times its size ({output} out of {input} \
         read): refused by --max-compression-ratio {ratio} (checked once a stream passes \
         {min}; 0 turns the check off)"
    )]
    Ratio {
        /// The stream.
        what: String,
        /// The limit.
        ratio: u64,
        /// Compressed bytes read.
        input: ByteSize,
        /// Bytes produced.
        output: ByteSize,
        /// Output before the check applies.
        min: ByteSize,
    },
}

impl LimitExceeded {
    /// The limit error inside `err` (or inside one of its sources), if any: readers deep in
    /// a decompressor or the tar crate report it wrapped in `io::Error`s.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a LimitExceeded> {
        let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<LimitExceeded>() {
                return Some(found);
            }
            if let Some(io) = e.downcast_ref::<io::Error>()
                && let Some(inner) = io.get_ref()
                && let Some(found) = LimitExceeded::find(inner)
            {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}

/// The disk one build may fill, shared (cheaply cloned) by everything it unpacks.
#[derive(Debug, Clone)]
pub struct DiskBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    limit: u64,
    used: AtomicU64,
}

impl PartialEq for DiskBudget {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for DiskBudget {}

impl DiskBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> DiskBudget {
        DiskBudget {
            inner: Arc::new(BudgetInner {
                limit,
                used: AtomicU64::new(0),
            }),
        }
    }

    /// No limit (tests, and callers outside a build).
    pub fn unlimited() -> DiskBudget {
        DiskBudget::new(u64::MAX)
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Bytes charged so far.
    pub fn used(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Charges `bytes` for `what` (named in the error only), or refuses them when they would
    /// go past the limit (then nothing is charged).
    pub fn charge(&self, bytes: u64, what: impl FnOnce() -> String) -> Result<(), LimitExceeded> {
        let mut used = self.inner.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.inner.limit {
                return Err(LimitExceeded::Disk {
                    what: what(),
                    wanted: ByteSize(bytes),
                    used: ByteSize(used),
                    limit: ByteSize(self.inner.limit),
                });
            }
            match self.inner.used.compare_exchange_weak(
                used,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }
}

/// Limits of ADD's URL downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadLimits {
    /// `--add-url-max-size`.
    pub max_size: u64,
    /// `--add-url-timeout`: the whole download.
    pub timeout: Duration,
}

impl Default for DownloadLimits {
    fn default() -> Self {
        DownloadLimits {
            max_size: DEFAULT_ADD_URL_MAX_SIZE,
            timeout: Duration::from_secs(DEFAULT_ADD_URL_TIMEOUT),
        }
    }
}

/// Every bound of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The disk budget.
    pub disk: DiskBudget,
    /// `--max-compression-ratio` (0: no check).
    pub max_ratio: u64,
    /// ADD URL downloads.
    pub download: DownloadLimits,
}

impl Default for Limits {
    /// No disk limit; the default ratio and download limits.
    fn default() -> Self {
        Limits {
            disk: DiskBudget::unlimited(),
            max_ratio: DEFAULT_MAX_RATIO,
            download: DownloadLimits::default(),
        }
    }
}

impl Limits {
    /// The limits of a build whose scratch files live in `dir`: `max_build_disk` when
    /// given, else [`default_disk_limit`] for `dir`.
    pub fn for_build(
        max_build_disk: Option<u64>,
        max_ratio: u64,
        download: DownloadLimits,
        dir: &Path,
    ) -> Limits {
        let limit = max_build_disk.unwrap_or_else(|| default_disk_limit(dir));
        tracing::debug!(limit = %ByteSize(limit), "disk budget of the build");
        Limits {
            disk: DiskBudget::new(limit),
            max_ratio,
            download,
        }
    }
}

/// [`DEFAULT_MAX_BUILD_DISK`], or [`DEFAULT_FREE_SHARE`] percent of the space free for us
/// on the filesystem of `dir` when that is less (the whole default when it cannot be read).
pub fn default_disk_limit(dir: &Path) -> u64 {
    match free_space(dir) {
        Ok(free) => DEFAULT_MAX_BUILD_DISK.min(free / 100 * DEFAULT_FREE_SHARE),
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "free space unknown");
            DEFAULT_MAX_BUILD_DISK
        }
    }
}

/// Bytes available to an unprivileged user on the filesystem holding `dir`.
fn free_space(dir: &Path) -> io::Result<u64> {
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
        .map_err(|_| io::Error::other("path contains a nul byte"))?;
    // SAFETY: an all-zero statvfs is a valid buffer for statvfs to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` writable for the call.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Counts the bytes read through it (the compressed side of a stream).
pub struct Counted<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counted<R> {
    /// `inner`, counted; the counter is shared with [`RatioGuard`].
    pub fn new(inner: R) -> (Counted<R>, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        (
            Counted {
                inner,
                count: Arc::clone(&count),
            },
            count,
        )
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The decompressed side of a stream: fails with [`LimitExceeded::Ratio`] when it has
/// produced too much for what was read on the compressed side (see the module docs).
pub struct RatioGuard {
    inner: Box<dyn Read + Send>,
    input: Arc<AtomicU64>,
    output: u64,
    ratio: u64,
    what: String,
}

impl RatioGuard {
    /// Guards `decoded`, whose compressed input is counted by `input`; `what` names the
    /// stream in the error. A `ratio` of 0 checks nothing.
    pub fn wrap(
        decoded: Box<dyn Read + Send>,
        input: Arc<AtomicU64>,
        ratio: u64,
        what: String,
    ) -> Box<dyn Read + Send> {
        if ratio == 0 {
            return decoded;
        }
        Box::new(RatioGuard {
            inner: decoded,
            input,
            output: 0,
            ratio,
            what,
        })
    }
}

impl Read for RatioGuard {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.output += n as u64;
        if self.output > RATIO_MIN_OUTPUT {
            let input = self.input.load(Ordering::Relaxed);
            if self.output > input.saturating_mul(self.ratio) {
                return Err(io::Error::other(LimitExceeded::Ratio {
                    what: self.what.clone(),
                    ratio: self.ratio,
                    input: ByteSize(input),
                    output: ByteSize(self.output),
                    min: ByteSize(RATIO_MIN_OUTPUT),
                }));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024_and_print_back() {
        fn check(text: &str, expected: Result<u64, &str>) {
            let got = ByteSize::parse(text).map(|b| b.0);
            match expected {
                Ok(bytes) => assert_eq!(got, Ok(bytes), "{text}"),
                Err(needle) => {
                    let err = got.expect_err(text);
                    assert!(err.contains(needle), "{text}: {err}");
                }
            }
        }
        check("1048576", Ok(1 << 20));
        check("512k", Ok(512 << 10));
        check("1MiB", Ok(1 << 20));
        check("1 MB", Ok(1 << 20));
        check("20GiB", Ok(20 << 30));
        check("1.5G", Ok(3 << 29));
        check("2t", Ok(2 << 40));
        check("0", Ok(0));
        check("12 parsecs", Err("unknown unit"));
        check("", Err("not a size"));
        check("-1", Err("not a size"));
        check("lots", Err("not a size"));
        check("1.2.3G", Err("not a size"));
        check("99999999999T", Err("not a size"));
        for (bytes, shown) in [
            (0, "0 B"),
            (512, "512 B"),
            (1 << 20, "1 MiB"),
            (5 << 20, "5 MiB"),
            (3 << 29, "1.5 GiB"),
            ((5 << 20) + 512, "5 MiB"),
            (1 << 40, "1 TiB"),
        ] {
            assert_eq!(ByteSize(bytes).to_string(), shown);
        }
    }

    #[test]
    fn the_budget_refuses_what_would_pass_the_limit_and_charges_nothing_then() {
        let budget = DiskBudget::new(1000);
        budget.charge(600, || "a".into()).unwrap();
        let err = budget.charge(500, || "tar entry big".into()).unwrap_err();
        assert_eq!(budget.used(), 600);
        let message = err.to_string();
        for needle in [
            "tar entry big",
            "500 B",
            "--max-build-disk 1000 B",
            "600 B written",
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
        budget.charge(400, || "b".into()).unwrap();
        assert_eq!(budget.used(), 1000);
        assert!(budget.charge(1, || "c".into()).is_err());
        // Clones share the budget.
        let other = budget.clone();
        assert_eq!(other.used(), 1000);
        assert_eq!(other, budget);
        assert_ne!(DiskBudget::new(1000), budget);
    }

    #[test]
    fn the_ratio_guard_stops_a_stream_that_expands_too_much_past_the_minimum() {
        fn read_all(ratio: u64, compressed: Vec<u8>) -> io::Result<u64> {
            let (input, count) = Counted::new(io::Cursor::new(compressed));
            let decoder = zstd::stream::read::Decoder::new(input)?;
            let mut guarded = RatioGuard::wrap(Box::new(decoder), count, ratio, "stream".into());
            io::copy(&mut guarded, &mut io::sink())
        }
        let zeros = vec![0u8; (RATIO_MIN_OUTPUT + (8 << 20)) as usize];
        let bomb = zstd::encode_all(&zeros[..], 3).unwrap();
        let err = read_all(DEFAULT_MAX_RATIO, bomb.clone()).unwrap_err();
        let found = LimitExceeded::find(&err).expect("a limit error");
        assert!(
            matches!(found, LimitExceeded::Ratio { ratio: 2000, .. }),
            "{found}"
        );
        assert!(
            found.to_string().contains("--max-compression-ratio 2000"),
            "{found}"
        );
        // Off, or under the minimum, it reads to the end.
        assert_eq!(read_all(0, bomb).unwrap(), zeros.len() as u64);
        let small = zstd::encode_all(&zeros[..(RATIO_MIN_OUTPUT as usize)], 3).unwrap();
        assert_eq!(read_all(1, small).unwrap(), RATIO_MIN_OUTPUT);
    }
}
