//! Operations on a SQLite installation: an online backup taken while the server serves, a
//! restore into a new installation whose ledger verifies and whose catalog is identical, an
//! altered archive refused before anything is written, the ledger exported for archiving
//! and verified offline, and the installation copied into PostgreSQL to scale out.

use pdx_core::{OrgKind, Role};
use pdx_tests::{TestServer, json};
use reqwest::Method;
use serde_json::{Value, json};

/// Where an installation and its copy must answer the same: the catalog in the API and in
/// CKAN's form, and the organisations.
const CATALOG: [&str; 4] = [
    "/api/v1/datasets",
    "/api/v1/datasets/river-levels",
    "/api/3/action/package_show?id=river-levels",
    "/api/v1/organizations",
];

const CSV: &str = "station,level,measured_at\nFutian,3.2,2026-11-30\nLuohu,2.9,2026-11-30\n";

/// A server on a SQLite file in its own data directory, whatever PDX_TEST_DATABASE_URL says:
/// the round trip is the single-node installation's.
async fn sqlite_server() -> TestServer {
    TestServer::spawn_with(|config| {
        config.database_url = Some(format!(
            "sqlite://{}",
            config.data_dir.join("pdx.sqlite3").display()
        ));
    })
    .await
}

async fn get_json(server: &TestServer, path: &str, token: Option<&str>) -> Value {
    let response = server.call(Method::GET, path, token, None).await;
    assert_eq!(response.status(), 200, "{path}");
    json(response).await
}

/// A catalog with a published open dataset, downloaded a few times, and a checkpoint of it.
async fn populated() -> (TestServer, String, String) {
    let server = sqlite_server().await;
    server.create_org("water", OrgKind::Agency).await;
    server
        .create_user(
            "water",
            "admin@water.test",
            &[Role::Admin, Role::Publisher, Role::Reviewer],
        )
        .await;
    let admin = server.access_token("admin@water.test").await;
    let distribution = server
        .publish_dataset(
            &admin,
            &admin,
            json!({
                "slug": "river-levels", "title": "River levels", "description": "Hourly levels",
                "update_frequency": "hourly", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
            }),
            CSV,
        )
        .await;
    circulate(&server, &distribution, 3).await;
    (server, admin, distribution)
}

/// Downloads the file of `distribution` `times` times, then waits for a checkpoint of them.
async fn circulate(server: &TestServer, distribution: &str, times: usize) {
    for _ in 0..times {
        let response = server
            .get(&format!("/api/v1/distributions/{distribution}/data"))
            .await;
        assert_eq!(response.status(), 200);
    }
    wait_for_checkpoint(server).await;
}

/// Waits until the latest checkpoint covers every entry.
async fn wait_for_checkpoint(server: &TestServer) {
    for _ in 0..100 {
        let status = server
            .call(Method::GET, "/api/v1/ledger/checkpoint", None, None)
            .await;
        let covered =
            pdx_tests::header(&status, "x-pdx-tree-size").and_then(|s| s.parse::<i64>().ok());
        let entries = ledger_size(server);
        if covered == Some(entries) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no checkpoint covered the ledger");
}

fn ledger_size(server: &TestServer) -> i64 {
    use diesel::prelude::*;
    let url = match server.config.database_url() {
        Ok(url) => url,
        Err(error) => panic!("{error}"),
    };
    let mut conn = match pdx_storage::DbConnection::open(&url) {
        Ok(conn) => conn,
        Err(error) => panic!("{error}"),
    };
    pdx_storage::schema::ledger_entries::table
        .count()
        .get_result(&mut conn)
        .unwrap_or(-1)
}

/// The configuration of a new installation in `dir`.
fn fresh_config(original: &pdx_server::Config, dir: &std::path::Path) -> pdx_server::Config {
    pdx_server::Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(format!("sqlite://{}", dir.join("pdx.sqlite3").display())),
        keys: Default::default(),
        catalog: Default::default(),
        ..original.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_to_an_identical_catalog_and_a_verified_ledger() {
    let (server, admin, distribution) = populated().await;
    let archive_dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let archive = archive_dir.path().join("pdx-backup.tar.gz");
    let manifest = pdx_server::backup::backup(&server.config, &archive, false).await;
    let Ok(manifest) = manifest else {
        panic!("the backup is written: {manifest:?}")
    };
    assert_eq!(manifest.backend, "sqlite");
    assert!(manifest.master_key_included);
    assert_eq!(manifest.ledger_size as i64, ledger_size(&server));
    assert!(manifest.files.iter().any(|f| f.path.starts_with("blobs/")));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&archive).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "the archive holds the master key");
    let again = pdx_server::backup::backup(&server.config, &archive, false).await;
    assert!(again.is_err(), "a backup never overwrites a file");

    // The restore goes into a new installation: its own data directory and database.
    let restored_dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let config = fresh_config(&server.config, restored_dir.path());
    let restored = pdx_server::backup::restore(&config, &archive).await;
    let Ok(restored) = restored else {
        panic!("the restore succeeds: {restored:?}")
    };
    assert!(
        restored.ledger.problems.is_empty(),
        "{:?}",
        restored.ledger.problems
    );
    assert_eq!(restored.ledger.size as i64, ledger_size(&server));
    assert_eq!(restored.blobs, 1);
    let again = pdx_server::backup::restore(&config, &archive).await;
    assert!(again.is_err(), "a restore never overwrites an installation");

    // Served at the same public URL (its links, token issuer and ledger origin) as before.
    let copy = TestServer::spawn_with(|c| {
        c.data_dir = config.data_dir.clone();
        c.database_url = config.database_url.clone();
        c.public_url = server.config.public_url.clone();
    })
    .await;
    // The same catalog, in the API, in CKAN's and in DCAT's form.
    for path in CATALOG {
        assert_eq!(
            get_json(&server, path, None).await,
            get_json(&copy, path, None).await,
            "{path}"
        );
    }
    assert_eq!(
        server.get("/catalog.ttl").await.text().await.ok(),
        copy.get("/catalog.ttl").await.text().await.ok()
    );
    // The same ledger: the same checkpoint, and entries that verify against it.
    assert_eq!(
        server
            .get("/api/v1/ledger/checkpoint")
            .await
            .text()
            .await
            .ok(),
        copy.get("/api/v1/ledger/checkpoint")
            .await
            .text()
            .await
            .ok()
    );
    // The same keys: a token of the original is honoured, and the file is served from the
    // restored store with the next entry of the same ledger.
    honours_and_serves(&copy, &admin, &distribution, manifest.ledger_size).await;
}

/// Checks that `copy` of an installation holds its keys and files and goes on with its
/// ledger: the original's token `admin` is honoured, and the file of `distribution` is served
/// whole as ledger entry `next`.
async fn honours_and_serves(copy: &TestServer, admin: &str, distribution: &str, next: u64) {
    let me = copy
        .call(Method::GET, "/api/v1/me", Some(admin), None)
        .await;
    assert_eq!(me.status(), 200);
    let served = copy
        .get(&format!("/api/v1/distributions/{distribution}/data"))
        .await;
    assert_eq!(served.status(), 200);
    assert_eq!(
        pdx_tests::header(&served, "x-pdx-ledger-seq").as_deref(),
        Some(next.to_string().as_str()),
        "the ledger goes on without a gap"
    );
    assert_eq!(served.text().await.ok().as_deref(), Some(CSV));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_archive_is_refused_before_anything_is_restored() {
    let (server, _, _) = populated().await;
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let archive = dir.path().join("backup.tar.gz");
    let written = pdx_server::backup::backup(&server.config, &archive, false).await;
    assert!(written.is_ok(), "{written:?}");

    // One changed byte of the stored file inside an otherwise valid archive.
    let altered = dir.path().join("altered.tar.gz");
    let rewritten = rewrite(&archive, &altered, |name, data| {
        if name.starts_with("blobs/") {
            data[0] ^= 1;
        }
    });
    assert!(rewritten.is_ok(), "{rewritten:?}");
    let target = dir.path().join("restored");
    let config = fresh_config(&server.config, &target);
    let refused = pdx_server::backup::restore(&config, &altered).await;
    let Err(error) = refused else {
        panic!("an altered archive is refused")
    };
    assert!(
        error.to_string().contains("do not match its manifest"),
        "{error}"
    );
    assert!(!target.join("pdx.sqlite3").exists(), "nothing was restored");
    assert!(!target.join("keys").exists(), "not even the master key");

    // An archive cut short is refused too.
    let bytes = std::fs::read(&archive).unwrap_or_default();
    let cut = dir.path().join("cut.tar.gz");
    assert!(std::fs::write(&cut, &bytes[..bytes.len() / 2]).is_ok());
    assert!(pdx_server::backup::restore(&config, &cut).await.is_err());
    assert!(!target.join("pdx.sqlite3").exists());
}

/// Copies a tar.gz archive, letting `edit` change each member's bytes.
fn rewrite(
    from: &std::path::Path,
    to: &std::path::Path,
    edit: impl Fn(&str, &mut Vec<u8>),
) -> std::io::Result<()> {
    use std::io::Read;
    let mut input = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(from)?));
    let mut output = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(to)?,
        flate2::Compression::fast(),
    ));
    for entry in input.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        edit(&name, &mut data);
        let mut header = entry.header().clone();
        header.set_size(data.len() as u64);
        header.set_cksum();
        output.append_data(&mut header, &name, data.as_slice())?;
    }
    output.into_inner()?.finish()?;
    Ok(())
}

/// The named export files of `destination`, read one after the other.
fn segments(destination: &std::path::Path, names: &[&str]) -> impl std::io::BufRead {
    let mut chained: Box<dyn std::io::Read> = Box::new(std::io::empty());
    for name in names {
        match std::fs::File::open(destination.join(name)) {
            Ok(file) => chained = Box::new(std::io::Read::chain(chained, file)),
            Err(error) => panic!("{name}: {error}"),
        }
    }
    std::io::BufReader::new(chained)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_exported_whole_then_by_segments_verifies_offline_against_its_checkpoints() {
    let (server, _, distribution) = populated().await;
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let destination = dir.path().join("ledger-archive");
    let output = destination.display().to_string();
    let exported = pdx_server::backup::export_ledger(&server.config, &output, None, None).await;
    let Ok(first) = exported else {
        panic!("the export is written: {exported:?}")
    };
    assert_eq!((first.from, first.size as i64), (0, ledger_size(&server)));
    let read = |name: &str| std::fs::read_to_string(destination.join(name)).unwrap_or_default();
    assert_eq!(read(&first.written[0]).lines().count() as u64, first.size);
    let key = read(&first.written[2]);
    let report = pdx_circulation::verify::verify_export(
        segments(&destination, &[&first.written[0]]),
        &read(&first.written[1]),
        key.trim(),
    );
    assert!(report.is_ok(), "{report:?}");

    // Nothing signed since: the next scheduled run, given no --from, continues where the
    // archive ends and writes nothing.
    let again = pdx_server::backup::export_ledger(&server.config, &output, None, None).await;
    assert!(
        again.as_ref().is_ok_and(|e| e.written.is_empty()),
        "{again:?}"
    );
    let past =
        pdx_server::backup::export_ledger(&server.config, &output, Some(first.size + 1), None)
            .await;
    assert!(past.is_err(), "a --from past the checkpoint is refused");

    // More circulation, a new checkpoint, and the archive grows by the new entries only.
    circulate(&server, &distribution, 4).await;
    let exported = pdx_server::backup::export_ledger(&server.config, &output, None, None).await;
    let Ok(second) = exported else {
        panic!("the segment is written: {exported:?}")
    };
    assert_eq!(second.from, first.size);
    assert_eq!(
        second.written[0],
        format!("ledger-{}-{}.ndjson", first.size, second.size)
    );
    assert_eq!(
        read(&second.written[0]).lines().count() as u64,
        second.size - first.size,
        "only the new entries"
    );
    let note = read(&second.written[1]);
    // As an auditor checks the archive: `pdx ledger verify` given both segments, in order.
    let path = |name: &str| destination.join(name).display().to_string();
    use clap::Parser;
    let args = pdx_server::ledger_cli::LedgerArgs::try_parse_from([
        "pdx ledger",
        "verify",
        "--export",
        &path(&first.written[0]),
        "--export",
        &path(&second.written[0]),
        "--checkpoint",
        &path(&second.written[1]),
        "--key",
        &path(&second.written[2]),
        "--json",
    ]);
    let Ok(args) = args else {
        panic!("{args:?}");
    };
    let whole: Value = match pdx_server::ledger_cli::execute(args.command) {
        Ok(output) => serde_json::from_str(&output).unwrap_or_default(),
        Err(error) => panic!("both segments in order verify: {error}"),
    };
    assert_eq!(whole["entries"], second.size, "{whole}");
    let alone = pdx_circulation::verify::verify_export(
        segments(&destination, &[&second.written[0]]),
        &note,
        key.trim(),
    );
    assert!(
        alone.is_err(),
        "a segment without those before it does not verify"
    );

    // An archive whose latest checkpoint is not this ledger's (another platform's, or
    // altered) is not continued: nothing is added to it.
    let latest = destination.join(&second.written[1]);
    let altered = note.replacen(' ', "  ", 1);
    assert_ne!(altered, note);
    assert!(std::fs::write(&latest, &altered).is_ok());
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(&destination)
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let before = files();
    circulate(&server, &distribution, 2).await;
    let refused = pdx_server::backup::export_ledger(&server.config, &output, None, None).await;
    let Err(error) = refused else {
        panic!("an altered archive is continued: {refused:?}")
    };
    assert!(
        error
            .to_string()
            .contains("not the checkpoint this ledger signed"),
        "{error}"
    );
    assert_eq!(files(), before, "nothing written");
    // Its checkpoint put back, the archive is whole again, and continued.
    assert!(std::fs::write(&latest, &note).is_ok());
    let third = pdx_server::backup::export_ledger(&server.config, &output, None, None).await;
    assert!(
        third
            .as_ref()
            .is_ok_and(|e| e.from == second.size && e.written.len() == 3),
        "{third:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_exported_to_a_bucket_verifies_and_the_next_run_continues_from_it() {
    // What the nightly CronJob does: `pdx ledger export s3://…` with no --from.
    let (server, _, distribution) = populated().await;
    let s3 = pdx_storage::test_s3::S3Server::start();
    let mut config = server.config.clone();
    config.catalog.s3 = s3
        .options()
        .into_iter()
        .map(|(k, v)| (k, pdx_server::config::Setting::Text(v)))
        .collect();
    let destination = s3.url("ledger-archive");
    let Ok(bucket) = pdx_storage::BlobStore::open_with(&destination, &s3.options()) else {
        panic!("cannot open the bucket")
    };
    let read = async |name: &str| match bucket.read(name).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => panic!("{name}: {error}"),
    };
    let exported = pdx_server::backup::export_ledger(&config, &destination, None, None).await;
    let Ok(first) = exported else {
        panic!("the export is written: {exported:?}")
    };
    assert_eq!((first.from, first.size as i64), (0, ledger_size(&server)));
    let mut kept = bucket.keys().await.unwrap_or_default();
    kept.sort();
    let mut written = first.written.clone();
    written.sort();
    assert_eq!(
        kept, written,
        "the objects are in the bucket, under its prefix"
    );
    let entries = read(&first.written[0]).await;
    let report = pdx_circulation::verify::verify_export(
        std::io::Cursor::new(entries.into_bytes()),
        &read(&first.written[1]).await,
        read(&first.written[2]).await.trim(),
    );
    assert!(report.is_ok(), "{report:?}");

    // The next run finds where the archive in the bucket ends: nothing new, nothing written;
    // after more circulation, only the new entries.
    let again = pdx_server::backup::export_ledger(&config, &destination, None, None).await;
    assert!(
        again.as_ref().is_ok_and(|e| e.written.is_empty()),
        "{again:?}"
    );
    circulate(&server, &distribution, 3).await;
    let exported = pdx_server::backup::export_ledger(&config, &destination, None, None).await;
    let Ok(second) = exported else {
        panic!("the segment is written: {exported:?}")
    };
    assert_eq!(second.from, first.size);
    assert_eq!(
        read(&second.written[0]).await.lines().count() as u64,
        second.size - first.size,
        "only the new entries"
    );
    let whole = format!(
        "{}{}",
        read(&first.written[0]).await,
        read(&second.written[0]).await
    );
    let report = pdx_circulation::verify::verify_export(
        std::io::Cursor::new(whole.into_bytes()),
        &read(&second.written[1]).await,
        read(&second.written[2]).await.trim(),
    );
    assert!(report.is_ok(), "both segments in order verify: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_installation_copied_into_postgresql_goes_on_there_as_the_same_platform() {
    // The new database: PostgreSQL, so this runs in CI's PostgreSQL pass; the README's test
    // command needs no database server, and there is nothing to copy into without one.
    let target = pdx_storage::testing::TestDatabase::empty();
    if target.backend() != pdx_storage::Backend::Postgres {
        return;
    }
    let (server, admin, distribution) = populated().await;
    let rows = format!("/api/v1/distributions/{distribution}/rows?sort=station");
    let ingested = async {
        for _ in 0..200 {
            let found = get_json(
                &server,
                &format!("/api/v1/distributions/{distribution}/ingestions"),
                Some(&admin),
            )
            .await;
            if found[0]["state"] == "ready" {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    };
    assert!(ingested.await, "the CSV is loaded into a row table");
    let before = get_json(&server, &rows, None).await;
    // Signed, so that the source writes nothing while it is copied.
    wait_for_checkpoint(&server).await;
    let entries = ledger_size(&server);

    // Into the new database, and the files into the bucket the new servers share.
    let s3 = pdx_storage::test_s3::S3Server::start();
    let bucket = s3.url("catalog");
    let Ok(files_to) = pdx_storage::BlobStore::open_with(&bucket, &s3.options()) else {
        panic!("the bucket opens")
    };
    let url = target.url().to_connection_string();
    let copied =
        pdx_server::transfer::copy_to_postgres(&server.config, &url, Some(&files_to)).await;
    let Ok(copied) = copied else {
        panic!("the copy succeeds: {copied:?}")
    };
    let count = |table: &str| {
        copied
            .tables
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, rows)| *rows)
    };
    assert_eq!(count("ledger_entries"), u64::try_from(entries).ok());
    assert_eq!(count("datasets"), Some(1));
    assert_eq!(
        copied.ledger_entries as i64, entries,
        "verified in PostgreSQL"
    );
    assert_eq!((copied.row_tables.tables, copied.row_tables.rows), (1, 2));
    assert_eq!(copied.files, 1);
    assert_eq!(copied.written_meanwhile, 0);
    // A second copy into it is refused: it holds a platform now.
    let again = pdx_server::transfer::copy_to_postgres(&server.config, &url, None).await;
    let Err(refused) = again else {
        panic!("a copy into a database holding a platform is refused")
    };
    assert!(
        refused.to_string().contains("already holds a platform"),
        "{refused}"
    );

    // A server on PostgreSQL and the bucket, with this installation's master key and public
    // URL, is the same platform.
    let master_key = server.config.data_dir.join("keys").join("master.key");
    let moved = TestServer::spawn_with(|c| {
        c.database_url = Some(url.clone());
        c.keys.master_key_file = Some(master_key.clone());
        c.public_url = server.config.public_url.clone();
        c.catalog.blob_store = Some(bucket.clone());
        c.catalog.s3 = s3
            .options()
            .into_iter()
            .map(|(k, v)| (k, pdx_server::config::Setting::Text(v)))
            .collect();
    })
    .await;
    for path in CATALOG.into_iter().chain(["/api/v1/ledger/checkpoint"]) {
        assert_eq!(
            server.get(path).await.text().await.ok(),
            moved.get(path).await.text().await.ok(),
            "{path}"
        );
    }
    // The same rows, from the row table now in PostgreSQL; their ledger entry is the next.
    let after = get_json(&moved, &rows, None).await;
    assert_eq!(after["rows"], before["rows"]);
    assert_eq!(after["columns"], before["columns"]);
    // The same keys: the original's token is honoured; the file comes from the bucket, as
    // the entry after the row query's.
    let next = u64::try_from(entries + 1).unwrap_or_default();
    honours_and_serves(&moved, &admin, &distribution, next).await;
    // Its sequences go on after the copied rows: the catalog takes new datasets.
    let created = moved
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(&admin),
            Some(json!({
                "slug": "rain", "title": "Rainfall", "description": "Daily rainfall",
                "update_frequency": "daily", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let status = get_json(&moved, "/api/v1/ledger/status", None).await;
    assert_eq!(status["verified"], true, "{status}");
    assert!(
        status["size"]
            .as_i64()
            .is_some_and(|size| size >= entries + 2),
        "{status}"
    );
}
