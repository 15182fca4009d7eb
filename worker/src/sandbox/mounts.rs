// Copyright 2026 The kaniko-rs Authors. SPDX-License-Identifier: Apache-2.0

//! What the sandbox's init mounts before it pivots into the root: the root itself (overlay
//! or a bind of the stage root), a fresh `/proc` of the new pid namespace, a minimal `/dev`
//! (tmpfs with the host's null, zero, full, random, urandom and tty bound in, a private
//! devpts, `/dev/shm`), the host's `/sys` read-only, the provided `/etc` files, and the
//! `RUN --mount`s (binds, read-only or with writes thrown away, and tmpfs). Every
//! target was resolved inside the root by the parent and is opened here with `O_NOFOLLOW`,
//! then mounted through `/proc/self/fd`, so no symlink of the image can redirect a mount.
//! Every mount source is opened inside its own root with `openat2(RESOLVE_IN_ROOT)` and
//! reached only through its descriptor (also as overlay's lower directory).
//! All of it happens in the sandbox's own mount namespace (made private first): nothing
//! reaches the host's.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::mountinfo;
use super::sys::{self, mount};
use super::{Mount, MountKind, Root, SetupError, Source, Spec, Target};
use crate::inroot;

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn c(path: &Path) -> Result<CString, SetupError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SetupError::Other(format!("{} contains a NUL byte", path.display())))
}

/// An `O_PATH` descriptor of `root/rel` that refuses a symlink as the last component, and its
/// `/proc/self/fd` path; creates the file or directory when missing.
struct Pinned {
    fd: libc::c_int,
    proc_path: PathBuf,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: closing a descriptor we opened.
        unsafe { libc::close(self.fd) };
    }
}

fn pin(root: &Path, target: &Target) -> Result<Pinned, SetupError> {
    let full = root.join(&target.rel);
    let exists = std::fs::symlink_metadata(&full).is_ok();
    if !exists {
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| SetupError::Other(format!("creating {}: {e}", parent.display())))?;
        }
        let made = if target.dir {
            std::fs::create_dir(&full)
        } else {
            std::fs::File::create(&full).map(|_| ())
        };
        made.map_err(|e| SetupError::Other(format!("creating {}: {e}", full.display())))?;
    }
    let path = c(&full)?;
    // SAFETY: path is a valid C string.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(SetupError::Other(format!(
            "opening mount point {}: {}",
            full.display(),
            errno()
        )));
    }
    Ok(Pinned {
        fd,
        proc_path: PathBuf::from(format!("/proc/self/fd/{fd}")),
    })
}

/// Mounts everything, then pivots into the root.
pub fn setup(spec: &Spec) -> Result<(), SetupError> {
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )
    .map_err(|e| SetupError::Other(format!("making the mount namespace private: {e}")))?;
    let root: PathBuf = match &spec.root {
        Root::Overlay {
            lowers,
            upper,
            work,
            merged,
        } => {
            let (cwd, short) = short_lowers(lowers);
            let short: Vec<&Path> = short.iter().map(PathBuf::as_path).collect();
            let data = overlay_data(&short, upper, work).map_err(SetupError::Overlay)?;
            if data.len() >= MAX_MOUNT_DATA {
                return Err(SetupError::Overlay(format!(
                    "a stage root of {} layers needs {} bytes of overlay mount options, more \
                     than the kernel's {MAX_MOUNT_DATA}",
                    lowers.len(),
                    data.len()
                )));
            }
            // Lower directories named relative to the store's layer directory (short).
            let previous = std::env::current_dir().ok();
            if let Some(dir) = &cwd {
                std::env::set_current_dir(dir)
                    .map_err(|e| SetupError::Overlay(format!("entering {}: {e}", dir.display())))?;
            }
            // nodev: a device node of the image is a file in its layers, never a device
            // the command can open.
            mount(
                Some(Path::new("overlay")),
                merged,
                Some("overlay"),
                libc::MS_NODEV,
                Some(&data),
            )
            .map_err(|e| SetupError::Overlay(format!("{data}: {e}")))?;
            if let (Some(_), Some(previous)) = (&cwd, previous) {
                let _ = std::env::set_current_dir(previous);
            }
            merged.clone()
        }
        Root::Direct { dir } => {
            mount(Some(dir), dir, None, libc::MS_BIND | libc::MS_REC, None).map_err(|e| {
                SetupError::Other(format!("binding the root {}: {e}", dir.display()))
            })?;
            // A bind keeps the host mount's flags: nodev has to be added.
            let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NODEV | locked_flags(dir);
            mount(None, dir, None, flags, None).map_err(|e| {
                SetupError::Other(format!("making the root {} nodev: {e}", dir.display()))
            })?;
            dir.clone()
        }
    };
    for (name, target) in &spec.pseudo {
        let pinned = pin(&root, target)?;
        let result = match name.as_str() {
            "/proc" => mount(
                Some(Path::new("proc")),
                &pinned.proc_path,
                Some("proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            ),
            "/sys" => mount_sys(&pinned.proc_path),
            "/dev" => mount(
                Some(Path::new("tmpfs")),
                &pinned.proc_path,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_STRICTATIME,
                Some("mode=755,size=65536k"),
            ),
            _ => Ok(()),
        };
        result.map_err(|e| SetupError::Other(format!("mounting {name}: {e}")))?;
        if name == "/dev" {
            populate_dev(&root.join(&target.rel))?;
        }
        if name == "/proc" {
            protect_proc(&root.join(&target.rel))?;
        }
    }
    for (source, target) in &spec.provided {
        if std::fs::metadata(root.join(&target.rel)).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let pinned = pin(&root, target)?;
        mount(Some(source), &pinned.proc_path, None, libc::MS_BIND, None)
            .map_err(|e| SetupError::Other(format!("providing /{}: {e}", target.rel.display())))?;
    }
    for m in &spec.mounts {
        run_mount(&root, m).map_err(|e| {
            SetupError::Other(format!("RUN --mount at /{}: {e}", m.target.rel.display()))
        })?;
    }
    pivot(&root)
}

/// The locked flags (nosuid, nodev, noexec) of the mount `path` is on: a remount in a user
/// namespace must keep them.
fn locked_flags(path: &Path) -> libc::c_ulong {
    // SAFETY: statvfs is plain integers: all zeroes is a valid value of it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if let Ok(p) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: valid path and output buffer.
        if unsafe { libc::statvfs(p.as_ptr(), &mut stat) } != 0 {
            return 0;
        }
    }
    stat.f_flag & (libc::ST_NOSUID | libc::ST_NODEV | libc::ST_NOEXEC)
}

/// An `O_PATH` descriptor of a mount's source, opened inside its root (see [`Source`]).
fn open_source(source: &Source) -> std::io::Result<OwnedFd> {
    let root = inroot::open_root(&source.root)?;
    inroot::open_in(root.as_fd(), &source.rel, libc::O_PATH)
}

/// Remounts the bind at `target` with `flags` added (and the locked flags it must keep).
fn restrict(target: &Path, flags: libc::c_ulong) -> std::io::Result<()> {
    let flags = libc::MS_REMOUNT | libc::MS_BIND | flags | locked_flags(target);
    mount(None, target, None, flags, None)
}

/// Mounts one `RUN --mount` (its target resolved inside `root`). Sources are reached only
/// through descriptors opened inside their own roots (`/proc/self/fd/N`), so neither a
/// symlink swapped in nor a name with overlay's separators can point a mount elsewhere.
fn run_mount(root: &Path, m: &Mount) -> Result<(), String> {
    let pinned = pin(root, &m.target).map_err(|e| e.to_string())?;
    let target = root.join(&m.target.rel);
    match &m.kind {
        MountKind::Bind {
            source,
            readonly,
            nosuid,
        } => {
            let src = open_source(source).map_err(|e| format!("opening the source: {e}"))?;
            mount(
                Some(&inroot::fd_path(src.as_fd())),
                &pinned.proc_path,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(|e| format!("binding: {e}"))?;
            let mut flags = libc::MS_NODEV;
            if *readonly {
                flags |= libc::MS_RDONLY;
            }
            if *nosuid {
                flags |= libc::MS_NOSUID;
            }
            restrict(&target, flags).map_err(|e| format!("restricting the bind: {e}"))?;
        }
        MountKind::Discard { source, scratch } => {
            let src = open_source(source).map_err(|e| format!("opening the source: {e}"))?;
            let upper = scratch.join("upper");
            let work = scratch.join("work");
            for dir in [&upper, &work] {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            let lower = inroot::fd_path(src.as_fd());
            let data = overlay_data(&[&lower], &upper, &work)?;
            let overlay = mount(
                Some(Path::new("overlay")),
                &pinned.proc_path,
                Some("overlay"),
                libc::MS_NODEV,
                Some(&data),
            );
            if overlay.is_err() {
                // No overlay here: a private copy takes the writes instead.
                inroot::copy_tree_from(src.as_fd(), &upper)
                    .map_err(|e| format!("copying the source: {e}"))?;
                mount(
                    Some(&upper),
                    &pinned.proc_path,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(|e| format!("binding the copy: {e}"))?;
                restrict(&target, libc::MS_NODEV)
                    .map_err(|e| format!("restricting the copy: {e}"))?;
            }
        }
        MountKind::Tmpfs { size } => {
            let data = match size {
                Some(bytes) => format!("mode=1777,size={bytes}"),
                None => "mode=1777".to_string(),
            };
            mount(
                Some(Path::new("tmpfs")),
                &pinned.proc_path,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV,
                Some(&data),
            )
            .map_err(|e| format!("mounting a tmpfs: {e}"))?;
        }
    }
    Ok(())
}

/// The most bytes of mount options the kernel takes (one page).
const MAX_MOUNT_DATA: usize = 4096;

/// Lower directories as short as they can be named: when several share the parent of the
/// bottom one (the layer store's `layers/`), that parent becomes the working directory and
/// they are named by their file names alone.
fn short_lowers(lowers: &[PathBuf]) -> (Option<PathBuf>, Vec<PathBuf>) {
    let parent = lowers
        .last()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf);
    let Some(parent) = parent.filter(|p| {
        lowers
            .iter()
            .filter(|l| l.parent() == Some(p.as_path()))
            .count()
            > 1
    }) else {
        return (None, lowers.to_vec());
    };
    let short = lowers
        .iter()
        .map(|l| match (l.parent(), l.file_name()) {
            (Some(p), Some(name)) if p == parent => PathBuf::from(name),
            _ => l.clone(),
        })
        .collect();
    (Some(parent), short)
}

/// The mount data of an overlay: `lowers` (top first), `upper` and `work`, with `userxattr`
/// (in a user namespace overlay keeps its metadata, such as opaque directories, in
/// `user.overlay.*` xattrs; without it removing a lower directory fails with EIO). Every path
/// is escaped the way overlayfs's option parser unescapes it (`\`, `:` and `,` preceded by a
/// backslash), so a directory named `x:` or `a,upperdir=b` stays one path and can never add a
/// lower directory or an option.
pub(crate) fn overlay_data(lowers: &[&Path], upper: &Path, work: &Path) -> Result<String, String> {
    fn escaped(path: &Path) -> Result<String, String> {
        let text = path
            .to_str()
            .ok_or_else(|| format!("{} is not valid UTF-8", path.display()))?;
        let mut out = String::with_capacity(text.len());
        for ch in text.chars() {
            if matches!(ch, '\\' | ':' | ',') {
                out.push('\\');
            }
            out.push(ch);
        }
        Ok(out)
    }
    let lowers: Vec<String> = lowers
        .iter()
        .map(|p| escaped(p))
        .collect::<Result<_, _>>()?;
    Ok(format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        lowers.join(":"),
        escaped(upper)?,
        escaped(work)?
    ))
}

/// Parts of `/proc` that reach the host's kernel are read-only or hidden, as Docker does:
/// the sandbox's root may be the host's uid 0 (an identity-mapped user namespace when the
/// worker runs as root), and some of these files check nothing but that uid.
const PROC_READ_ONLY: [&str; 5] = ["bus", "fs", "irq", "sys", "sysrq-trigger"];
const PROC_MASKED: [&str; 8] = [
    "acpi",
    "kcore",
    "keys",
    "latency_stats",
    "sched_debug",
    "scsi",
    "timer_list",
    "timer_stats",
];

fn protect_proc(proc_dir: &Path) -> Result<(), SetupError> {
    let locked = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    for name in PROC_READ_ONLY {
        let path = proc_dir.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        mount(Some(&path), &path, None, libc::MS_BIND | libc::MS_REC, None)
            .and_then(|()| {
                mount(
                    None,
                    &path,
                    None,
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | locked,
                    None,
                )
            })
            .map_err(|e| SetupError::Other(format!("making /proc/{name} read-only: {e}")))?;
    }
    for name in PROC_MASKED {
        let path = proc_dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let masked = if meta.is_dir() {
            mount(
                Some(Path::new("tmpfs")),
                &path,
                Some("tmpfs"),
                libc::MS_RDONLY | locked,
                Some("size=0"),
            )
        } else {
            mount(
                Some(Path::new("/dev/null")),
                &path,
                None,
                libc::MS_BIND,
                None,
            )
        };
        masked.map_err(|e| SetupError::Other(format!("masking /proc/{name}: {e}")))?;
    }
    Ok(())
}

/// A read-only `/sys` at `pinned` (the mount point's descriptor path): a fresh sysfs where
/// the sandbox may mount one (it owns its network namespace: `--network none`, as runc does),
/// else the host's bound with every mount below it (cgroup, debugfs, tracefs, bpf, efivarfs,
/// ...) made read-only one by one, since `MS_REC` does not carry `MS_RDONLY` to them. Nothing
/// at all rather than anything writable.
fn mount_sys(pinned: &Path) -> std::io::Result<()> {
    let fixed = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if mount(Some(Path::new("sysfs")), pinned, Some("sysfs"), fixed, None).is_ok() {
        return Ok(());
    }
    // Where the mount point is, as mountinfo spells it.
    let target = std::fs::read_link(pinned)?;
    mount(
        Some(Path::new("/sys")),
        pinned,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    let read_only = || -> std::io::Result<()> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
        let points = mountinfo::mounts_under(&info, &target);
        if points.is_empty() {
            return Err(std::io::Error::other(format!(
                "{} is not in /proc/self/mountinfo",
                target.display()
            )));
        }
        for point in points {
            let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | locked_flags(&point);
            mount(None, &point, None, flags, None).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("making {} read-only: {e}", point.display()),
                )
            })?;
        }
        Ok(())
    };
    if let Err(e) = read_only() {
        if let Ok(t) = CString::new(target.as_os_str().as_bytes()) {
            // Detaching the mount we just made (and everything below it).
            let _ = sys::umount2(&t, libc::MNT_DETACH);
        }
        return Err(e);
    }
    Ok(())
}

fn populate_dev(dev: &Path) -> Result<(), SetupError> {
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        std::fs::File::create(&target)
            .map_err(|e| SetupError::Other(format!("creating /dev/{name}: {e}")))?;
        let host = Path::new("/dev").join(name);
        if let Err(e) = mount(Some(&host), &target, None, libc::MS_BIND, None) {
            if name == "tty" {
                let _ = std::fs::remove_file(&target);
                continue;
            }
            return Err(SetupError::Other(format!("binding /dev/{name}: {e}")));
        }
    }
    let pts = dev.join("pts");
    let shm = dev.join("shm");
    for dir in [&pts, &shm] {
        std::fs::create_dir(dir)
            .map_err(|e| SetupError::Other(format!("creating {}: {e}", dir.display())))?;
    }
    let devpts = mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    );
    if devpts.is_ok() {
        let _ = std::os::unix::fs::symlink("pts/ptmx", dev.join("ptmx"));
    }
    mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )
    .map_err(|e| SetupError::Other(format!("mounting /dev/shm: {e}")))?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let _ = std::os::unix::fs::symlink(target, dev.join(name));
    }
    Ok(())
}

fn pivot(root: &Path) -> Result<(), SetupError> {
    std::env::set_current_dir(root)
        .map_err(|e| SetupError::Other(format!("entering {}: {e}", root.display())))?;
    let dot = c(Path::new("."))?;
    // pivot_root(".", ".") stacks the old root on the new one.
    sys::pivot_root(&dot, &dot).map_err(|e| SetupError::Other(format!("pivot_root: {e}")))?;
    // Detaching the old root, now mounted on top of ".".
    sys::umount2(&dot, libc::MNT_DETACH)
        .map_err(|e| SetupError::Other(format!("detaching the old root: {e}")))?;
    std::env::set_current_dir("/")
        .map_err(|e| SetupError::Other(format!("entering the new root: {e}")))?;
    Ok(())
}

/// Brings the loopback interface of a new network namespace up.
pub fn loopback_up() -> Result<(), SetupError> {
    // SAFETY: socket/ioctl with a zeroed ifreq naming "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(SetupError::Other(format!("socket: {}", errno())));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) != 0 {
            result = Err(SetupError::Other(format!(
                "reading lo's flags: {}",
                errno()
            )));
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) != 0 {
                result = Err(SetupError::Other(format!("bringing lo up: {}", errno())));
            }
        }
        libc::close(fd);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_paths_are_escaped_so_they_stay_one_path() {
        fn check(lower: &str, expected: &str) {
            let data = overlay_data(&[Path::new(lower)], Path::new("/u"), Path::new("/w")).unwrap();
            assert_eq!(
                data,
                format!("lowerdir={expected},upperdir=/u,workdir=/w,userxattr")
            );
        }
        check("/ctx/plain", "/ctx/plain");
        check("/ctx/x:/etc", "/ctx/x\\:/etc");
        check("/ctx/a,upperdir=/etc", "/ctx/a\\,upperdir=/etc");
        check("/ctx/back\\slash", "/ctx/back\\\\slash");
        let two = overlay_data(
            &[Path::new("/top:1"), Path::new("/bottom")],
            Path::new("/u,x"),
            Path::new("/w:y"),
        )
        .unwrap();
        assert_eq!(
            two,
            "lowerdir=/top\\:1:/bottom,upperdir=/u\\,x,workdir=/w\\:y,userxattr"
        );
    }

    #[test]
    fn store_layers_are_named_relative_to_their_directory() {
        let lowers: Vec<PathBuf> = ["/tmp/b/root", "/s/layers/cc", "/s/layers/aa"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let (cwd, short) = short_lowers(&lowers);
        assert_eq!(cwd.as_deref(), Some(Path::new("/s/layers")));
        assert_eq!(
            short,
            ["/tmp/b/root", "cc", "aa"].map(PathBuf::from).to_vec()
        );
        let one = vec![PathBuf::from("/tmp/b/root")];
        assert_eq!(short_lowers(&one), (None, one.clone()));
    }
}
