//! [`StoreLock`]: one daemon per store file.
//!
//! Owns the sidecar `<store>.lock` file: an exclusive `flock` on it for as long as the
//! daemon runs, and the holder's pid written in it so that a second daemon's error can
//! name the first. Must not: delete the lock file (removing a lock file another process
//! has open lets a third lock a different inode) or touch the store itself.
//!
//! The lock is advisory and held by the open file: the OS drops it when the process
//! dies, so a crashed keeper never leaves a stale lock behind.

use std::{
    fs::{File, OpenOptions, TryLockError},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use super::StoreError;

/// An exclusive lock on a store, released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file of `store`: the same path with `.lock` appended.
    pub fn path_for(store: &Path) -> PathBuf {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock of `store` without waiting, or fails with [`StoreError::Locked`]
    /// naming the holder's pid.
    pub fn acquire(store: &Path) -> Result<Self, StoreError> {
        let lock = Self::path_for(store);
        let failed = |cause| StoreError::Lock {
            path: store.to_path_buf(),
            lock: lock.clone(),
            cause,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let holder = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(StoreError::Locked {
                    path: store.to_path_buf(),
                    lock,
                    holder,
                });
            }
            Err(TryLockError::Error(cause)) => return Err(failed(cause)),
        }
        // Ours now: say who holds it.
        let pid = std::process::id();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{pid}"))
            .and_then(|()| file.flush())
            .map_err(failed)?;
        Ok(Self {
            _file: file,
            path: lock,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
