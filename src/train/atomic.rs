//! Whole-or-nothing file writes: data goes to a temporary file in the target's
//! folder, is flushed to disk, and only then renamed over the target, so an
//! interrupted run never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Names of the temporary files, `.plotgenre-XXXXXX.tmp`.
const TMP_PREFIX: &str = ".plotgenre-";
const TMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        std::fs::File::create(tmp)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|e| Error::io(path, e))
    })
}

/// Removes the temporary files that runs killed mid-write left in `dir`
/// (a training checkpoint's can be hundreds of megabytes).
pub fn remove_leftovers(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Lets `fill` write a temporary path, then moves it to `path` atomically.
pub fn write_with(path: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(TMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    fill(tmp.path())?;
    // Temporary files are private (0600); the result is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(path, e))?;
    }
    std::fs::File::open(tmp.path())
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}
