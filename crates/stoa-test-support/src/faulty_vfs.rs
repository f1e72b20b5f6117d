//! A fault-injecting SQLite VFS for tests: it wraps the platform's own VFS and, for the
//! files under a directory a test registered, fails writes, fsyncs or both on command, acts
//! as a full disk or a read-only one, and can hold every write back until the file's next
//! fsync so that a simulated power cut loses exactly what was never fsync'd, in the spirit
//! of LazyFS.
//!
//! A test registers its data directory with [`faults_for`], opens its store with
//! `vfs=` [`VFS_NAME`], and throws the switches of the [`Faults`] it got back. Files outside
//! every registered directory (and temporary files) pass straight through, so tests that
//! run in parallel in one process do not disturb each other.
//!
//! With [`Faults::hold_unsynced_writes`] on, a file's writes and truncations are kept in
//! memory, read back from there, and applied to the real file only when SQLite fsyncs it.
//! [`Faults::power_cut`] then drops what is held and fails every later operation on the
//! directory's files, as a machine that lost power would: once the store that used them is
//! closed, the files on disk hold exactly what had been fsync'd.

// This module is the test suite's one use of `unsafe`: a VFS is a table of C callbacks that
// SQLite calls with raw pointers. Every pointer it dereferences was handed to it by SQLite
// under the VFS contract (https://www.sqlite.org/c3ref/io_methods.html), or is the wrapped
// VFS's own.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use libsqlite3_sys as ffi;

/// The name to open a SQLite database with (`vfs=stoa-faults`).
pub const VFS_NAME: &str = "stoa-faults";

/// The switches for one directory's files. Every switch starts off.
#[derive(Default)]
pub struct Faults {
    /// Writes and truncations fail with an I/O error.
    fail_writes: AtomicBool,
    /// Fsyncs fail with an I/O error (and, when writes are held, keep holding them).
    fail_syncs: AtomicBool,
    /// Writes and truncations fail as on a full disk.
    full: AtomicBool,
    /// Writes, truncations and fsyncs fail as on a read-only file system.
    read_only: AtomicBool,
    /// Writes are held in memory until the file's next fsync.
    hold_unsynced: AtomicBool,
    /// The power is off: held writes are gone and every operation fails.
    cut: AtomicBool,
    /// What is held for each database, log and journal file, shared by every handle on the
    /// file as an operating system's page cache is.
    caches: Mutex<std::collections::HashMap<PathBuf, Arc<Mutex<PageCache>>>>,
}

impl Faults {
    pub fn fail_writes(&self, on: bool) {
        self.fail_writes.store(on, Ordering::SeqCst);
    }

    pub fn fail_syncs(&self, on: bool) {
        self.fail_syncs.store(on, Ordering::SeqCst);
    }

    pub fn full(&self, on: bool) {
        self.full.store(on, Ordering::SeqCst);
    }

    pub fn read_only(&self, on: bool) {
        self.read_only.store(on, Ordering::SeqCst);
    }

    /// Holds the directory's database, log and journal writes from now on until their
    /// file's next fsync (writes already made stay where they went). A file that began
    /// holding keeps holding for the rest of the test: turning the switch off only spares
    /// files that had not begun.
    pub fn hold_unsynced_writes(&self, on: bool) {
        self.hold_unsynced.store(on, Ordering::SeqCst);
    }

    /// Cuts the power: what is held is lost, and every later operation on the directory's
    /// files fails. Irreversible for the files already open; a store opened afterwards on the
    /// directory (after registering it again) starts from what reached the disk.
    pub fn power_cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for cache in locked(&self.caches).values() {
            locked(cache).held.clear();
        }
    }

    /// The page cache of the file at `path`.
    fn cache_of(&self, path: &Path) -> Arc<Mutex<PageCache>> {
        locked(&self.caches)
            .entry(path.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets what is held for a file that is deleted.
    fn forget(&self, path: &Path) {
        locked(&self.caches).remove(path);
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// The error a write or truncation meets now, if any.
    fn write_error(&self, io_error: c_int) -> Option<c_int> {
        if self.is_cut() || self.fail_writes.load(Ordering::SeqCst) {
            Some(io_error)
        } else if self.full.load(Ordering::SeqCst) {
            Some(ffi::SQLITE_FULL)
        } else if self.read_only.load(Ordering::SeqCst) {
            Some(ffi::SQLITE_READONLY)
        } else {
            None
        }
    }

    /// The error an fsync meets now, if any.
    fn sync_error(&self) -> Option<c_int> {
        if self.is_cut() || self.fail_syncs.load(Ordering::SeqCst) {
            Some(ffi::SQLITE_IOERR_FSYNC)
        } else if self.read_only.load(Ordering::SeqCst) {
            Some(ffi::SQLITE_READONLY)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("cut", &self.is_cut())
            .finish_non_exhaustive()
    }
}

/// The directories whose files get faults, with their switches.
type Registry = Mutex<Vec<(PathBuf, Arc<Faults>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Registers the fault VFS (once per process) and gives `directory` a fresh set of switches,
/// replacing any it had, for the files opened under it from now on.
pub fn faults_for(directory: &Path) -> Arc<Faults> {
    register_vfs();
    let directory = directory
        .canonicalize()
        .unwrap_or_else(|_| directory.to_owned());
    let faults = Arc::new(Faults::default());
    let mut registry = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry.retain(|(registered, _)| *registered != directory);
    registry.push((directory, faults.clone()));
    faults
}

fn faults_of(path: &Path) -> Option<Arc<Faults>> {
    let registry = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry
        .iter()
        .find(|(directory, _)| path.starts_with(directory))
        .map(|(_, faults)| faults.clone())
}

/// The platform's VFS, which this one wraps.
struct Base(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's VFS objects are immutable after registration and safe to use from any
// thread (SQLite is built thread-safe).
unsafe impl Send for Base {}
unsafe impl Sync for Base {}

static BASE: OnceLock<Base> = OnceLock::new();

fn base() -> *mut ffi::sqlite3_vfs {
    BASE.get().map_or(std::ptr::null_mut(), |base| base.0)
}

fn register_vfs() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS, which lives as long as the
        // process; the VFS registered here is leaked so that it does too.
        unsafe {
            let default = ffi::sqlite3_vfs_find(std::ptr::null());
            assert!(!default.is_null(), "SQLite has a default VFS");
            let _ = BASE.set(Base(default));
            let mut vfs = *default;
            vfs.zName = c"stoa-faults".as_ptr();
            vfs.pNext = std::ptr::null_mut();
            vfs.pAppData = std::ptr::null_mut();
            vfs.szOsFile = c_int::try_from(std::mem::size_of::<FaultyFile>()).unwrap_or(c_int::MAX)
                + (*default).szOsFile;
            vfs.xOpen = Some(open);
            vfs.xDelete = Some(delete);
            vfs.xAccess = Some(access);
            vfs.xFullPathname = Some(full_pathname);
            let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
            let registered = ffi::sqlite3_vfs_register(vfs, 0);
            assert_eq!(registered, ffi::SQLITE_OK, "the fault VFS registers");
        }
    });
}

/// What happened to a file since its last fsync, when writes are held.
enum Held {
    Write { offset: i64, data: Vec<u8> },
    Truncate { size: i64 },
}

/// The writes held for one file until its next fsync.
#[derive(Default)]
struct PageCache {
    /// Whether writes are held: from the first write after the switch was turned on.
    holding: bool,
    held: Vec<Held>,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Per-handle state beside the wrapped file.
struct FileState {
    faults: Option<Arc<Faults>>,
    /// For database, log and journal files under a registered directory: their page cache.
    cache: Option<Arc<Mutex<PageCache>>>,
}

impl FileState {
    fn is_cut(&self) -> bool {
        self.faults.as_ref().is_some_and(|faults| faults.is_cut())
    }

    /// The file's page cache when its writes are being held; writes start being held once
    /// the switch is on.
    fn holding(&self) -> Option<std::sync::MutexGuard<'_, PageCache>> {
        let cache = self.cache.as_ref()?;
        let mut cache = locked(cache);
        if !cache.holding
            && self
                .faults
                .as_ref()
                .is_some_and(|faults| faults.hold_unsynced.load(Ordering::SeqCst))
        {
            cache.holding = true;
        }
        cache.holding.then_some(cache)
    }
}

/// The file object SQLite allocates for this VFS: our header, then the wrapped VFS's file.
#[repr(C)]
struct FaultyFile {
    base: ffi::sqlite3_file,
    state: *mut FileState,
}

/// The wrapped VFS's file object, which follows ours in the same allocation.
///
/// SAFETY (for callers): `file` must point at a `FaultyFile` this VFS opened.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: szOsFile reserves room for the wrapped file right after `FaultyFile`, whose
    // size is a multiple of the pointer alignment.
    unsafe {
        file.cast::<u8>()
            .add(std::mem::size_of::<FaultyFile>())
            .cast::<ffi::sqlite3_file>()
    }
}

/// SAFETY (for callers): `file` must point at a `FaultyFile` this VFS opened.
unsafe fn state<'a>(file: *mut ffi::sqlite3_file) -> &'a mut FileState {
    // SAFETY: set in `open` and freed in `close`; SQLite never uses a file from two threads
    // at once.
    unsafe { &mut *(*file.cast::<FaultyFile>()).state }
}

/// SAFETY (for callers): `file` must point at an open file of the wrapped VFS.
unsafe fn methods<'a>(file: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    // SAFETY: an open file's methods table lives as long as the VFS.
    unsafe { &*(*file).pMethods }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

fn path_of(name: *const c_char) -> Option<PathBuf> {
    if name.is_null() {
        return None;
    }
    // SAFETY: SQLite passes NUL-terminated file names.
    let name = unsafe { CStr::from_ptr(name) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let faults = path_of(name).and_then(|path| faults_of(&path));
    if let Some(faults) = &faults
        && faults.is_cut()
    {
        return ffi::SQLITE_CANTOPEN;
    }
    let durable_kinds =
        ffi::SQLITE_OPEN_MAIN_DB | ffi::SQLITE_OPEN_WAL | ffi::SQLITE_OPEN_MAIN_JOURNAL;
    let cache = match (&faults, path_of(name)) {
        (Some(faults), Some(path)) if flags & durable_kinds != 0 => Some(faults.cache_of(&path)),
        _ => None,
    };
    // SAFETY: `file` has room for `FaultyFile` and the wrapped file (szOsFile); the wrapped
    // VFS opens its part.
    unsafe {
        let base = base();
        let opened = match (*base).xOpen {
            Some(base_open) => base_open(base, name, real(file), flags, out_flags),
            None => ffi::SQLITE_CANTOPEN,
        };
        if opened != ffi::SQLITE_OK {
            (*file).pMethods = std::ptr::null();
            return opened;
        }
        let state = Box::new(FileState { faults, cache });
        let faulty = file.cast::<FaultyFile>();
        (*faulty).state = Box::into_raw(state);
        (*faulty).base.pMethods = &METHODS;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    if let Some(path) = path_of(name)
        && let Some(faults) = faults_of(&path)
    {
        // A dead machine deletes nothing, nor does a read-only file system.
        if faults.is_cut() || faults.read_only.load(Ordering::SeqCst) {
            return ffi::SQLITE_IOERR_DELETE;
        }
        faults.forget(&path);
    }
    // SAFETY: delegating to the wrapped VFS with its own object.
    unsafe {
        let base = base();
        match (*base).xDelete {
            Some(base_delete) => base_delete(base, name, sync_dir),
            None => ffi::SQLITE_IOERR_DELETE,
        }
    }
}

unsafe extern "C" fn access(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    // SAFETY: delegating to the wrapped VFS with its own object.
    unsafe {
        let base = base();
        match (*base).xAccess {
            Some(base_access) => base_access(base, name, flags, out),
            None => ffi::SQLITE_IOERR,
        }
    }
}

unsafe extern "C" fn full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    size: c_int,
    out: *mut c_char,
) -> c_int {
    // SAFETY: delegating to the wrapped VFS with its own object.
    unsafe {
        let base = base();
        match (*base).xFullPathname {
            Some(base_full_pathname) => base_full_pathname(base, name, size, out),
            None => ffi::SQLITE_IOERR,
        }
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is ours; its state is freed once, here.
    unsafe {
        let faulty = file.cast::<FaultyFile>();
        drop(Box::from_raw((*faulty).state));
        (*faulty).state = std::ptr::null_mut();
        let real = real(file);
        match methods(real).xClose {
            Some(real_close) => real_close(real),
            None => ffi::SQLITE_OK,
        }
    }
}

/// The size of the wrapped file.
///
/// SAFETY (for callers): `real` must be an open file of the wrapped VFS.
unsafe fn real_size(real: *mut ffi::sqlite3_file) -> Result<i64, c_int> {
    // SAFETY: `real` is open.
    unsafe {
        let mut size: ffi::sqlite3_int64 = 0;
        match methods(real).xFileSize {
            Some(file_size) => match file_size(real, &mut size) {
                ffi::SQLITE_OK => Ok(size),
                error => Err(error),
            },
            None => Err(ffi::SQLITE_IOERR_FSTAT),
        }
    }
}

/// The file's size as SQLite sees it: the real size, changed by what is held.
fn logical_size(real_size: i64, cache: &PageCache) -> i64 {
    cache.held.iter().fold(real_size, |size, held| match held {
        Held::Write { offset, data } => size.max(offset + data.len() as i64),
        Held::Truncate { size: truncated } => *truncated,
    })
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buffer: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: `file` is ours and `buffer` holds `amount` bytes.
    unsafe {
        let state = state(file);
        if state.is_cut() {
            return ffi::SQLITE_IOERR_READ;
        }
        let real = real(file);
        let Some(real_read) = methods(real).xRead else {
            return ffi::SQLITE_IOERR_READ;
        };
        // Held across the read, so that no fsync moves held writes to the file meanwhile.
        let cache = state.holding();
        let answer = real_read(real, buffer, amount, offset);
        let Some(cache) = cache.filter(|cache| !cache.held.is_empty()) else {
            return answer;
        };
        if answer != ffi::SQLITE_OK && answer != ffi::SQLITE_IOERR_SHORT_READ {
            return answer;
        }
        let size = match real_size(real) {
            Ok(size) => logical_size(size, &cache),
            Err(error) => return error,
        };
        let length = usize::try_from(amount).unwrap_or(0);
        let bytes = std::slice::from_raw_parts_mut(buffer.cast::<u8>(), length);
        let start = offset;
        let end = offset + amount as i64;
        // Replays what is held, in order, over what the real file holds.
        for held in &cache.held {
            match held {
                Held::Write {
                    offset: written_at,
                    data,
                } => {
                    let written_end = written_at + data.len() as i64;
                    let from = start.max(*written_at);
                    let to = end.min(written_end);
                    if from < to {
                        let into = (from - start) as usize;
                        let out_of = (from - written_at) as usize;
                        let count = (to - from) as usize;
                        bytes[into..into + count].copy_from_slice(&data[out_of..out_of + count]);
                    }
                }
                Held::Truncate { size } => {
                    if *size < end {
                        let from = ((size - start).max(0) as usize).min(length);
                        bytes[from..].fill(0);
                    }
                }
            }
        }
        if size >= end {
            ffi::SQLITE_OK
        } else {
            let from = ((size - start).max(0) as usize).min(length);
            bytes[from..].fill(0);
            ffi::SQLITE_IOERR_SHORT_READ
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buffer: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: `file` is ours and `buffer` holds `amount` bytes.
    unsafe {
        let state = state(file);
        if let Some(error) = state
            .faults
            .as_ref()
            .and_then(|faults| faults.write_error(ffi::SQLITE_IOERR_WRITE))
        {
            return error;
        }
        if let Some(mut cache) = state.holding() {
            let length = usize::try_from(amount).unwrap_or(0);
            let data = std::slice::from_raw_parts(buffer.cast::<u8>(), length).to_vec();
            cache.held.push(Held::Write { offset, data });
            return ffi::SQLITE_OK;
        }
        let real = real(file);
        match methods(real).xWrite {
            Some(real_write) => real_write(real, buffer, amount, offset),
            None => ffi::SQLITE_IOERR_WRITE,
        }
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    // SAFETY: `file` is ours.
    unsafe {
        let state = state(file);
        if let Some(error) = state
            .faults
            .as_ref()
            .and_then(|faults| faults.write_error(ffi::SQLITE_IOERR_TRUNCATE))
        {
            return error;
        }
        if let Some(mut cache) = state.holding() {
            cache.held.push(Held::Truncate { size });
            return ffi::SQLITE_OK;
        }
        let real = real(file);
        match methods(real).xTruncate {
            Some(real_truncate) => real_truncate(real, size),
            None => ffi::SQLITE_IOERR_TRUNCATE,
        }
    }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: `file` is ours; held writes are applied to the wrapped file before its sync.
    unsafe {
        let state = state(file);
        if let Some(error) = state.faults.as_ref().and_then(|faults| faults.sync_error()) {
            return error;
        }
        let real = real(file);
        let real_methods = methods(real);
        if let Some(mut cache) = state.holding() {
            // Each held write leaves the cache only once it reached the file: a failure
            // keeps the rest held, as a page cache keeps pages it could not write back.
            while let Some(held) = cache.held.first() {
                let answer = match held {
                    Held::Write { offset, data } => match real_methods.xWrite {
                        Some(real_write) => real_write(
                            real,
                            data.as_ptr().cast(),
                            c_int::try_from(data.len()).unwrap_or(c_int::MAX),
                            *offset,
                        ),
                        None => ffi::SQLITE_IOERR_WRITE,
                    },
                    Held::Truncate { size } => match real_methods.xTruncate {
                        Some(real_truncate) => real_truncate(real, *size),
                        None => ffi::SQLITE_IOERR_TRUNCATE,
                    },
                };
                if answer != ffi::SQLITE_OK {
                    return answer;
                }
                cache.held.remove(0);
            }
        }
        match real_methods.xSync {
            Some(real_sync) => real_sync(real, flags),
            None => ffi::SQLITE_IOERR_FSYNC,
        }
    }
}

unsafe extern "C" fn file_size(
    file: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: `file` is ours and `size` is writable.
    unsafe {
        let state = state(file);
        if state.is_cut() {
            return ffi::SQLITE_IOERR_FSTAT;
        }
        let cache = state.holding();
        match real_size(real(file)) {
            Ok(real_size) => {
                *size = match &cache {
                    Some(cache) => logical_size(real_size, cache),
                    None => real_size,
                };
                ffi::SQLITE_OK
            }
            Err(error) => error,
        }
    }
}

/// Declares io methods that pass straight to the wrapped file.
macro_rules! pass_through {
    ($(fn $name:ident($($argument:ident: $type:ty),*) -> $output:ty = $method:ident or $missing:expr;)*) => {$(
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $argument: $type)*) -> $output {
            // SAFETY: `file` is ours; the wrapped file gets the same arguments.
            unsafe {
                let real = real(file);
                match methods(real).$method {
                    Some(method) => method(real $(, $argument)*),
                    None => $missing,
                }
            }
        }
    )*};
}

pass_through! {
    fn lock(level: c_int) -> c_int = xLock or ffi::SQLITE_IOERR_LOCK;
    fn unlock(level: c_int) -> c_int = xUnlock or ffi::SQLITE_IOERR_UNLOCK;
    fn check_reserved_lock(out: *mut c_int) -> c_int = xCheckReservedLock or ffi::SQLITE_IOERR_CHECKRESERVEDLOCK;
    fn file_control(op: c_int, argument: *mut c_void) -> c_int = xFileControl or ffi::SQLITE_NOTFOUND;
    fn sector_size() -> c_int = xSectorSize or 4096;
    fn device_characteristics() -> c_int = xDeviceCharacteristics or 0;
    fn shm_map(page: c_int, page_size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int = xShmMap or ffi::SQLITE_IOERR_SHMMAP;
    fn shm_lock(offset: c_int, count: c_int, flags: c_int) -> c_int = xShmLock or ffi::SQLITE_IOERR_SHMLOCK;
    fn shm_unmap(delete_flag: c_int) -> c_int = xShmUnmap or ffi::SQLITE_OK;
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: `file` is ours.
    unsafe {
        let real = real(file);
        if let Some(barrier) = methods(real).xShmBarrier {
            barrier(real);
        }
    }
}

/// Memory-mapped reads would bypass held writes: SQLite is told there is no mapping, and
/// reads through `read`.
unsafe extern "C" fn fetch(
    _file: *mut ffi::sqlite3_file,
    _offset: ffi::sqlite3_int64,
    _amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: `out` is writable.
    unsafe {
        *out = std::ptr::null_mut();
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn unfetch(
    _file: *mut ffi::sqlite3_file,
    _offset: ffi::sqlite3_int64,
    _pointer: *mut c_void,
) -> c_int {
    ffi::SQLITE_OK
}
