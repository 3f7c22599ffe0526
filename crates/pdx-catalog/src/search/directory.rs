//! The index's directory: tantivy's memory-mapped one, except that the document stores are
//! read with positioned reads instead of through a mapping.
//!
//! A mapped file's pages count in the process's resident memory once read, and stay there:
//! the stores hold every dataset's rendering (38 MiB for 100,000 datasets), so after one pass
//! of searches or anonymous reads they did. Read with `pread`, the same pages sit in the
//! kernel's page cache, shared and given back under pressure, and the server's memory is its
//! own. The rest of the index (terms, postings, fast fields) stays mapped: it is small and
//! read at every search.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::HasLen;
use tantivy::directory::error::OpenWriteError;
use tantivy::directory::error::{DeleteError, LockError, OpenDirectoryError, OpenReadError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, WatchCallback,
    WatchHandle, WritePtr,
};

/// The extension tantivy gives a segment's document store.
const STORE: &str = "store";

/// [`MmapDirectory`] with the document stores read by positioned reads.
#[derive(Debug, Clone)]
pub(super) struct IndexDirectory {
    mapped: MmapDirectory,
    root: PathBuf,
}

impl IndexDirectory {
    pub(super) fn open(root: &Path) -> Result<Self, OpenDirectoryError> {
        Ok(Self {
            mapped: MmapDirectory::open(root)?,
            root: root.to_owned(),
        })
    }
}

impl Directory for IndexDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        if path.extension().is_none_or(|extension| extension != STORE) {
            return self.mapped.get_file_handle(path);
        }
        let full = self.root.join(path);
        let file = File::open(&full).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_owned()),
            _ => OpenReadError::wrap_io_error(error, path.to_owned()),
        })?;
        let len = file
            .metadata()
            .map_err(|error| OpenReadError::wrap_io_error(error, path.to_owned()))?
            .len();
        Ok(Arc::new(ReadFile {
            file,
            len: len as usize,
        }))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.mapped.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.mapped.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        self.mapped.open_write(path)
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.mapped.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.mapped.atomic_write(path, data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.mapped.sync_directory()
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.mapped.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.mapped.watch(watch_callback)
    }
}

/// A file read by positioned reads; the open file keeps a deleted segment's store readable
/// for the searchers that still hold it, as a mapping would.
#[derive(Debug)]
struct ReadFile {
    file: File,
    len: usize,
}

impl FileHandle for ReadFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{range:?} is outside a file of {} bytes", self.len),
            ));
        }
        let mut bytes = vec![0; range.len()];
        self.file.read_exact_at(&mut bytes, range.start as u64)?;
        Ok(OwnedBytes::new(bytes))
    }
}

impl HasLen for ReadFile {
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_read_by_position_and_other_files_are_mapped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.store"), b"0123456789").unwrap();
        std::fs::write(dir.path().join("a.idx"), b"abcdef").unwrap();
        let directory = IndexDirectory::open(dir.path()).unwrap();

        let store = directory.open_read(Path::new("a.store")).unwrap();
        assert_eq!(store.len(), 10);
        assert_eq!(store.slice(3..7).read_bytes().unwrap().as_slice(), b"3456");
        assert_eq!(store.read_bytes().unwrap().as_slice(), b"0123456789");
        let handle = directory.get_file_handle(Path::new("a.store")).unwrap();
        assert!(handle.read_bytes(8..11).is_err(), "past the end");

        let index = directory.open_read(Path::new("a.idx")).unwrap();
        assert_eq!(index.read_bytes().unwrap().as_slice(), b"abcdef");

        assert!(matches!(
            directory.get_file_handle(Path::new("missing.store")),
            Err(OpenReadError::FileDoesNotExist(_))
        ));
    }
}
