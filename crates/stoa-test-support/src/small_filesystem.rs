//! A small file system of its own for a test, to fill up: a `tmpfs` mounted in a temporary
//! directory, which needs the right to mount (CI runs as root). Where the machine refuses,
//! [`SmallFilesystem::mount`] says so and the test uses the fault-injecting VFS instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted `tmpfs`, unmounted (lazily, so that files still open do not stop it) on drop.
#[derive(Debug)]
pub struct SmallFilesystem {
    mount_point: tempfile::TempDir,
}

impl SmallFilesystem {
    /// Mounts a `tmpfs` of `bytes`, or says why it could not.
    pub fn mount(bytes: u64) -> Result<SmallFilesystem, String> {
        let mount_point = tempfile::tempdir().map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(mount_point.path())
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs refused: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(SmallFilesystem { mount_point })
    }

    pub fn path(&self) -> &Path {
        self.mount_point.path()
    }

    /// Fills what space is left with a file of its own, until the file system reports
    /// that it is full; removing the file (or dropping the ballast) frees the space again.
    pub fn fill(&self) -> Ballast {
        let path = self.path().join("ballast");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xa5_u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(error) => panic!("filling {}: {error}", path.display()),
            }
        }
        // Single bytes too, so that not even a page is left.
        while let Ok(1) = file.write(&[0]) {}
        let _ = file.sync_all();
        Ballast { path }
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mount_point.path())
            .output();
    }
}

/// The file that fills a [`SmallFilesystem`]; removed on drop.
#[derive(Debug)]
pub struct Ballast {
    path: PathBuf,
}

impl Ballast {
    /// Frees the space.
    pub fn remove(self) {}
}

impl Drop for Ballast {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
