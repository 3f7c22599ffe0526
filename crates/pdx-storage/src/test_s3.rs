//! An S3-protocol server for tests: s3s-fs (from crates.io) over a temporary directory, on a
//! loopback port and a runtime of its own, so the blob store and several `pdx serve`
//! processes talk to a real S3 endpoint without any service installed.

use std::collections::BTreeMap;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// The access key the test server accepts.
pub const ACCESS_KEY: &str = "pdx-test-access";
/// Its secret.
pub const SECRET_KEY: &str = "pdx-test-secret-key";
/// The bucket every server starts with.
pub const BUCKET: &str = "pdx-test";

/// A running S3 server; stopped and removed when dropped.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server holding the empty bucket [`BUCKET`]. Panics when it cannot.
    pub fn start() -> Self {
        let root = match tempfile::Builder::new().prefix("pdx-s3-").tempdir() {
            Ok(root) => root,
            Err(error) => panic!("cannot create the S3 server's directory: {error}"),
        };
        if let Err(error) = std::fs::create_dir(root.path().join(BUCKET)) {
            panic!("cannot create the test bucket: {error}");
        }
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => listener,
            Err(error) => panic!("cannot bind the S3 server: {error}"),
        };
        let port = match listener.local_addr() {
            Ok(addr) => addr.port(),
            Err(error) => panic!("{error}"),
        };
        if let Err(error) = listener.set_nonblocking(true) {
            panic!("{error}");
        }
        let fs = match s3s_fs::FileSystem::new(root.path()) {
            Ok(fs) => fs,
            Err(error) => panic!("cannot open the S3 server's directory: {error:?}"),
        };
        let service = {
            let mut builder = S3ServiceBuilder::new(fs);
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.build()
        };
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => panic!("cannot start the S3 server's runtime: {error}"),
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => panic!("{error}"),
                };
                let http = ConnBuilder::new(TokioExecutor::new());
                loop {
                    let socket = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((socket, _)) => socket,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => break,
                    };
                    let connection = http
                        .serve_connection(TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
            });
        });
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The object store URL of `prefix` in the bucket.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The S3 settings a client needs (object_store's names, as `[catalog.s3]` takes them).
    pub fn options(&self) -> BTreeMap<String, String> {
        [
            ("endpoint", self.endpoint.as_str()),
            ("region", "us-east-1"),
            ("access_key_id", ACCESS_KEY),
            ("secret_access_key", SECRET_KEY),
            ("allow_http", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Where the server keeps its objects: `<root>/<bucket>/<key>`.
    pub fn root(&self) -> &std::path::Path {
        self.root.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
