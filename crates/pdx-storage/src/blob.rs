//! The blob store for uploaded distributions, through `object_store`: a local directory by
//! default, S3-compatible storage by URL. Uploads are streamed, size-limited and checksummed.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

/// What can go wrong storing or reading a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The upload exceeded the size limit; nothing was kept.
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The client's stream failed (e.g. the connection dropped); nothing was kept.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// No blob under this key.
    #[error("blob not found")]
    NotFound,
    /// The store is misconfigured or unreachable.
    #[error("blob store: {0}")]
    Store(String),
}

impl From<object_store::Error> for BlobError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Store(other.to_string()),
        }
    }
}

/// A blob as stored: its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Bytes stored.
    pub size: u64,
    /// SHA-256, hex-encoded.
    pub sha256: String,
}

/// Where distribution files live.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    location: String,
    /// Small blobs kept in memory once read: blobs never change under their key.
    small: Arc<quick_cache::sync::Cache<String, Bytes, ByteWeight>>,
}

/// Largest blob kept in memory by [`BlobStore::read_small`].
pub const SMALL_BLOB: u64 = 64 * 1024;
/// Most bytes of small blobs kept in memory.
const SMALL_BLOB_CACHE: u64 = 32 * 1024 * 1024;

/// Weighs a cached blob by its size.
#[derive(Debug, Clone, Copy)]
struct ByteWeight;

impl quick_cache::Weighter<String, Bytes> for ByteWeight {
    fn weight(&self, key: &String, value: &Bytes) -> u64 {
        (key.len() + value.len()) as u64
    }
}

fn small_cache() -> Arc<quick_cache::sync::Cache<String, Bytes, ByteWeight>> {
    Arc::new(quick_cache::sync::Cache::with_weighter(
        1_024,
        SMALL_BLOB_CACHE,
        ByteWeight,
    ))
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("location", &self.location)
            .finish()
    }
}

impl BlobStore {
    /// A store in a local directory, created if needed.
    pub fn local(dir: &std::path::Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| BlobError::Store(format!("cannot create {}: {e}", dir.display())))?;
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Self {
            store: Arc::new(store),
            location: format!("file://{}", dir.display()),
            small: small_cache(),
        })
    }

    /// Opens a store from a URL: `file:///dir`, a bare directory path, or `s3://bucket/prefix`
    /// (credentials and endpoint from the standard `AWS_*` environment variables).
    pub fn open(url: &str) -> Result<Self, BlobError> {
        Self::open_with(url, &std::collections::BTreeMap::new())
    }

    /// [`BlobStore::open`] with S3 settings beside the `AWS_*` environment, named as
    /// object_store names them (`endpoint`, `region`, `access_key_id`, `secret_access_key`,
    /// `allow_http`, …; with or without the `aws_` prefix); they win over the environment.
    pub fn open_with(
        url: &str,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, BlobError> {
        if url.starts_with("s3://") {
            return Self::s3(url, options);
        }
        if !options.is_empty() {
            return Err(BlobError::Store(format!(
                "{url}: S3 settings are given, but the store is not an s3:// URL"
            )));
        }
        let dir = url.strip_prefix("file://").unwrap_or(url);
        Self::local(std::path::Path::new(dir))
    }

    fn s3(
        url: &str,
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, BlobError> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        let mut builder = AmazonS3Builder::from_env().with_url(url);
        for (name, value) in options {
            let key: AmazonS3ConfigKey = name
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| BlobError::Store(format!("`{name}` is not an S3 setting")))?;
            builder = builder.with_config(key, value);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
        // The builder takes the bucket from the URL; the path after it is the stores' prefix.
        let prefix = url
            .trim_start_matches("s3://")
            .split_once('/')
            .map(|(_, prefix)| prefix.trim_matches('/'))
            .unwrap_or_default();
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            store
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Self {
            store,
            location: url.to_owned(),
            small: small_cache(),
        })
    }

    /// Where the store is, for operators.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Streams `chunks` into the blob `key`, hashing as it goes; refuses more than `limit`
    /// bytes. On any failure the partial upload is aborted and nothing is kept.
    pub async fn put_stream<S, E>(
        &self,
        key: &str,
        mut chunks: S,
        limit: u64,
    ) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = ObjectPath::from(key);
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = chunks.next().await {
            let failure = match chunk {
                Ok(chunk) => {
                    size += chunk.len() as u64;
                    if size > limit {
                        Some(BlobError::TooLarge { limit })
                    } else {
                        hasher.update(&chunk);
                        writer.put(chunk);
                        // Bound memory: wait while too many parts are in flight.
                        writer.wait_for_capacity(4).await.err().map(BlobError::from)
                    }
                }
                Err(error) => Some(BlobError::Interrupted(error.to_string())),
            };
            if let Some(failure) = failure {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%abort, key, "could not abort a failed upload");
                }
                return Err(failure);
            }
        }
        writer.finish().await?;
        Ok(StoredBlob {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    /// Opens a blob for streaming the bytes `range` (end exclusive; all when none), returning
    /// the blob's whole size beside the stream, so a caller can check it before serving.
    pub async fn open_stream(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<
        (
            u64,
            futures_util::stream::BoxStream<'static, Result<Bytes, BlobError>>,
        ),
        BlobError,
    > {
        let options = object_store::GetOptions {
            range: range.map(object_store::GetRange::Bounded),
            ..Default::default()
        };
        let result = self.store.get_opts(&ObjectPath::from(key), options).await?;
        let size = result.meta.size;
        let stream = match result.payload {
            object_store::GetResultPayload::File(file, _) => file_stream(file, result.range),
            object_store::GetResultPayload::Stream(stream) => {
                stream.map(|chunk| chunk.map_err(BlobError::from)).boxed()
            }
        };
        Ok((size, stream))
    }

    /// Reads a whole blob (for small blobs and tests).
    pub async fn read(&self, key: &str) -> Result<Bytes, BlobError> {
        Ok(self
            .store
            .get(&ObjectPath::from(key))
            .await?
            .bytes()
            .await?)
    }

    /// Reads a blob of at most [`SMALL_BLOB`] bytes, from memory after the first read. Blobs
    /// never change under their key, so the copy in memory cannot go stale.
    pub async fn read_small(&self, key: &str) -> Result<Bytes, BlobError> {
        if let Some(bytes) = self.small.get(key) {
            return Ok(bytes);
        }
        let bytes = self.read(key).await?;
        if bytes.len() as u64 <= SMALL_BLOB {
            self.small.insert(key.to_owned(), bytes.clone());
        }
        Ok(bytes)
    }

    /// The keys of every blob in the store (under its prefix), in no particular order.
    pub async fn keys(&self) -> Result<Vec<String>, BlobError> {
        let mut listing = self.store.list(None);
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            keys.push(meta?.location.to_string());
        }
        Ok(keys)
    }

    /// Deletes a blob; a missing blob is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.small.remove(key);
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}

/// Bytes of a local file read at once. `object_store` streams a local file 8 KiB at a time,
/// one blocking task each (1,280 for a 10 MB download); this reads eight times more per task,
/// and a download holds no more than that in memory while its client takes it.
const FILE_CHUNK: u64 = 64 * 1024;

/// The bytes `range` of a local file, read `FILE_CHUNK` at a time off the async threads.
fn file_stream(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, BlobError>> {
    use std::os::unix::fs::FileExt;
    let file = Arc::new(file);
    futures_util::stream::try_unfold(range, move |range| {
        let file = Arc::clone(&file);
        async move {
            if range.is_empty() {
                return Ok(None);
            }
            let length = (range.end - range.start).min(FILE_CHUNK);
            let start = range.start;
            let failed =
                |e: &dyn std::fmt::Display| BlobError::Store(format!("reading a file: {e}"));
            let bytes = tokio::task::spawn_blocking(move || {
                let mut bytes = vec![0; length as usize];
                file.read_exact_at(&mut bytes, start).map(|()| bytes)
            })
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?;
            Ok(Some((Bytes::from(bytes), start + length..range.end)))
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn stream_is_stored_with_its_size_and_sha256() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let Ok(store) = BlobStore::local(dir.path()) else {
            panic!()
        };
        let stored = store
            .put_stream(
                "datasets/a/b",
                chunks(&[b"stop_id,name\n", b"1,Futian\n"]),
                1024,
            )
            .await;
        let Ok(stored) = stored else {
            panic!("{stored:?}")
        };
        assert_eq!(stored.size, 22);
        // sha256("stop_id,name\n1,Futian\n")
        let expected = hex::encode(Sha256::digest(b"stop_id,name\n1,Futian\n"));
        assert_eq!(stored.sha256, expected);
        assert_eq!(
            store.read("datasets/a/b").await.ok().as_deref(),
            Some(&b"stop_id,name\n1,Futian\n"[..])
        );
    }

    #[tokio::test]
    async fn a_local_file_streams_in_chunks_whole_or_any_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..2 * FILE_CHUNK as usize + 3)
            .map(|i| (i % 251) as u8)
            .collect();
        let stored = store
            .put_stream("datasets/big/file", chunks_of(&bytes), 1 << 20)
            .await
            .unwrap();
        assert_eq!(stored.size, bytes.len() as u64);

        let read = |range: Option<std::ops::Range<u64>>| {
            let store = &store;
            async move {
                let (size, stream) = store.open_stream("datasets/big/file", range).await.unwrap();
                let parts: Vec<Bytes> = stream.map(Result::unwrap).collect().await;
                (size, parts)
            }
        };
        let (size, parts) = read(None).await;
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            [FILE_CHUNK as usize, FILE_CHUNK as usize, 3]
        );
        assert_eq!(parts.concat(), bytes);

        let across = FILE_CHUNK - 5..FILE_CHUNK + 7;
        let (size, parts) = read(Some(across.clone())).await;
        assert_eq!(size, bytes.len() as u64, "the whole size beside a part");
        assert_eq!(
            parts.concat(),
            &bytes[across.start as usize..across.end as usize]
        );
        let (_, parts) = read(Some(bytes.len() as u64 - 1..bytes.len() as u64)).await;
        assert_eq!(parts.concat(), &bytes[bytes.len() - 1..]);
    }

    fn chunks_of(
        bytes: &[u8],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + use<> {
        futures_util::stream::iter(
            bytes
                .chunks(10_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn the_keys_are_every_blob_stored_and_not_those_deleted() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let Ok(store) = BlobStore::local(dir.path()) else {
            panic!()
        };
        assert!(store.keys().await.is_ok_and(|keys| keys.is_empty()));
        for key in ["ledger-10.ndjson", "checkpoint-10.txt", "datasets/a/b"] {
            let stored = store.put_stream(key, chunks(&[b"x"]), 16).await;
            assert!(stored.is_ok(), "{stored:?}");
        }
        assert!(store.delete("datasets/a/b").await.is_ok());
        let Ok(mut keys) = store.keys().await else {
            panic!("the store lists its keys")
        };
        keys.sort();
        assert_eq!(keys, ["checkpoint-10.txt", "ledger-10.ndjson"]);
    }

    #[tokio::test]
    async fn oversized_or_interrupted_upload_leaves_nothing() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let Ok(store) = BlobStore::local(dir.path()) else {
            panic!()
        };
        let big = store
            .put_stream("k/big", chunks(&[b"0123456789", b"0123456789"]), 15)
            .await;
        assert!(matches!(big, Err(BlobError::TooLarge { limit: 15 })));
        assert!(matches!(
            store.read("k/big").await,
            Err(BlobError::NotFound)
        ));

        let broken = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let interrupted = store.put_stream("k/broken", broken, 1024).await;
        assert!(matches!(interrupted, Err(BlobError::Interrupted(_))));
        assert!(matches!(
            store.read("k/broken").await,
            Err(BlobError::NotFound)
        ));
    }

    #[test]
    fn s3_settings_are_checked_by_name_and_only_for_s3() {
        let mut options = std::collections::BTreeMap::new();
        options.insert("no_such_setting".to_owned(), "1".to_owned());
        let opened = BlobStore::open_with("s3://bucket/pdx", &options);
        assert!(matches!(opened, Err(BlobError::Store(m)) if m.contains("no_such_setting")));
        let Ok(dir) = tempfile::tempdir() else {
            panic!("a temporary directory")
        };
        let local = BlobStore::open_with(&dir.path().display().to_string(), &options);
        assert!(matches!(local, Err(BlobError::Store(m)) if m.contains("not an s3:// URL")));
        options.clear();
        options.insert("endpoint".to_owned(), "http://127.0.0.1:9".to_owned());
        options.insert("AWS_ALLOW_HTTP".to_owned(), "true".to_owned());
        options.insert("region".to_owned(), "us-east-1".to_owned());
        assert!(BlobStore::open_with("s3://bucket/pdx", &options).is_ok());
    }
}
