//! The `pdx` binary as an operator runs it: serve until SIGTERM, migrate, write OpenAPI,
//! and refuse a broken configuration with a clear message.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pdx_core::{Clock, SystemClock};
use pdx_storage::testing::TestDatabase;

fn pdx(data_dir: &Path, database: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pdx"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PDX_DATA_DIR", data_dir)
        .env("PDX_DATABASE_URL", database.url().to_connection_string())
        .env("PDX_WORKERS", "1");
    // On PostgreSQL the master key is given; on SQLite it is generated into the data directory.
    if database.backend() == pdx_storage::Backend::Postgres {
        command.env("PDX_KEYS__MASTER_KEY", TEST_MASTER_KEY);
    }
    command
}

/// The master key of the PostgreSQL runs (32 bytes of 0x2a).
const TEST_MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn output(command: &mut Command) -> Output {
    match command.output() {
        Ok(output) => output,
        Err(error) => panic!("cannot run pdx: {error}"),
    }
}

fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(error) => panic!("no free port: {error}"),
    }
}

fn temp_dir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn migrate_applies_migrations_and_is_idempotent() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let first = output(pdx(data.path(), &database).arg("migrate"));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("applied migration"));
    let second = output(pdx(data.path(), &database).arg("migrate"));
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(!String::from_utf8_lossy(&second.stderr).contains("applied migration"));
}

#[test]
fn openapi_to_stdout_is_the_generated_document() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let printed = output(pdx(data.path(), &database).args(["openapi", "--output", "-"]));
    assert!(printed.status.success());
    let expected = pdx_api::openapi_json().unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&printed.stdout), expected);
}

#[test]
fn unknown_configuration_key_is_refused_with_its_name() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let refused = output(
        pdx(data.path(), &database)
            .env("PDX_BIDN", "127.0.0.1:1")
            .arg("serve"),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bidn"), "{stderr}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.0.kill());
        drop(self.0.wait());
    }
}

#[tokio::test]
async fn serve_answers_then_stops_cleanly_on_sigterm() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let port = free_port();
    let child = pdx(data.path(), &database)
        .env("PDX_BIND", format!("127.0.0.1:{port}"))
        .env("PDX_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn();
    let Ok(child) = child else {
        panic!("cannot start pdx serve")
    };
    let mut server = Running(child);

    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = reqwest::get(&url).await {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "pdx serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match server.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("pdx serve did not stop after SIGTERM: {other:?}"),
        }
    };
    assert!(status.success(), "exit status {status}");

    let Some(stderr) = server.0.stderr.take() else {
        panic!("no stderr")
    };
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    let listening = lines.iter().find(|l| l.contains("PDX listening"));
    let Some(listening) = listening else {
        panic!("no listening line in {lines:?}")
    };
    let parsed: Result<serde_json::Value, _> = serde_json::from_str(listening);
    assert!(parsed.is_ok(), "log lines are JSON: {listening}");
    let bootstrap: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("first platform admin"))
        .collect();
    assert_eq!(bootstrap.len(), 1, "the first admin is announced once");
    let line: serde_json::Value = serde_json::from_str(bootstrap[0]).unwrap_or_default();
    assert_eq!(line["email"], "admin@pdx.local");
    assert!(line.get("password").is_none(), "{line}");
    let file = data.path().join("initial-admin-password");
    assert_eq!(line["password_file"], file.display().to_string());
    let password = std::fs::read_to_string(&file).unwrap_or_default();
    let password = password.trim();
    assert!(password.len() >= 20, "a one-time password: {password:?}");
    assert!(
        lines.iter().all(|l| !l.contains(password)),
        "the password is never logged"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode.ok(), Some(0o600), "readable by the server's user only");
}

#[test]
fn admin_commands_create_an_organisation_and_a_user_with_a_one_time_password() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let org = output(pdx(data.path(), &database).args([
        "admin",
        "create-org",
        "--name",
        "Water Authority",
        "--slug",
        "water",
        "--kind",
        "agency",
    ]));
    assert!(
        org.status.success(),
        "{}",
        String::from_utf8_lossy(&org.stderr)
    );
    assert!(String::from_utf8_lossy(&org.stdout).contains("created agency `water`"));

    let user = output(pdx(data.path(), &database).args([
        "admin",
        "create-user",
        "--org",
        "water",
        "--email",
        "clerk@water.test",
        "--name",
        "Clerk",
        "--roles",
        "admin,publisher",
    ]));
    assert!(
        user.status.success(),
        "{}",
        String::from_utf8_lossy(&user.stderr)
    );
    let stdout = String::from_utf8_lossy(&user.stdout);
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("one-time password (change it at first sign-in): "))
        .unwrap_or_default()
        .to_owned();
    assert!(password.len() >= 20, "{stdout}");

    let duplicate = output(pdx(data.path(), &database).args([
        "admin",
        "create-user",
        "--org",
        "water",
        "--email",
        "clerk@water.test",
        "--name",
        "Clerk",
        "--roles",
        "member",
    ]));
    assert!(!duplicate.status.success());
    let bad_role = output(pdx(data.path(), &database).args([
        "admin",
        "create-user",
        "--org",
        "water",
        "--email",
        "x@water.test",
        "--name",
        "X",
        "--roles",
        "auditor",
    ]));
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("auditor"));
}

#[test]
fn keys_rotate_adds_a_sealed_signing_key_and_the_master_key_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let database = TestDatabase::empty();
    let data = temp_dir();
    for _ in 0..2 {
        let rotated = output(pdx(data.path(), &database).args(["keys", "rotate"]));
        assert!(
            rotated.status.success(),
            "{}",
            String::from_utf8_lossy(&rotated.stderr)
        );
        let said = String::from_utf8_lossy(&rotated.stdout).into_owned();
        assert!(
            said.contains("new signing key") && said.contains("signing from"),
            "{said}"
        );
    }
    let file = data.path().join("keys/master.key");
    let text = if database.backend() == pdx_storage::Backend::Sqlite {
        let mode = std::fs::metadata(&file).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(
            mode.ok(),
            Some(0o600),
            "the generated master key is the owner's alone"
        );
        std::fs::read_to_string(&file).map_err(|e| e.to_string())
    } else {
        assert!(
            !file.exists(),
            "on PostgreSQL the master key is given, never generated"
        );
        Ok(TEST_MASTER_KEY.to_owned())
    };
    let master = match text
        .and_then(|text| pdx_storage::vault::MasterKey::parse(&text).map_err(|e| e.to_string()))
    {
        Ok(master) => master,
        Err(error) => panic!("the master key file reads back: {error}"),
    };
    let vault = pdx_storage::vault::Vault::new(database.database().clone(), master, Vec::new());
    assert_eq!(
        vault.keys("jwt").map(|keys| keys.len()).ok(),
        Some(3),
        "the first key plus two rotations, none expired yet"
    );
    assert!(
        !data.path().join("keys/jwt").exists(),
        "no key is kept in a file beside the master key"
    );

    // Another process without the master key is refused, saying which key it needs.
    let other = temp_dir();
    let refused = output(
        pdx(other.path(), &database)
            .env_remove("PDX_KEYS__MASTER_KEY")
            .args(["keys", "rotate"]),
    );
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        said.contains(vault.master_key_id()) && said.contains("PDX_KEYS__MASTER_KEY"),
        "{said}"
    );
}

#[test]
fn config_check_names_each_problem_by_its_key_and_passes_a_sound_configuration() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let sound = output(pdx(data.path(), &database).args(["config", "check"]));
    let said = String::from_utf8_lossy(&sound.stdout).into_owned();
    assert!(sound.status.success(), "{said}");
    assert!(said.contains("0 to fix"), "{said}");
    assert!(
        !data.path().join("keys").exists(),
        "checking writes nothing"
    );

    let broken = output(
        pdx(data.path(), &database)
            .env("PDX_BIND", "everywhere")
            .env("PDX_KEYS__MASTER_KEY", "c2hvcnQ=")
            .env("PDX_CATALOG__BLOB_STORE", "s3://bucket/pdx")
            .env("PDX_CATALOG__S3__NO_SUCH_SETTING", "1")
            .env("PDX_AUTH__ARGON2_ITERATIONS", "0")
            .args(["config", "check"]),
    );
    let said = String::from_utf8_lossy(&broken.stdout).into_owned();
    assert!(!broken.status.success(), "{said}");
    for key in [
        "bind",
        "keys.master_key",
        "catalog.blob_store",
        "auth.argon2_*",
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with("FAIL") && l.contains(key)),
            "{key} is named: {said}"
        );
    }
    assert!(said.contains("no_such_setting"), "{said}");

    let unknown = output(
        pdx(data.path(), &database)
            .env("PDX_LEDGER__CHECKPOINT_INTERVALL_MS", "5")
            .args(["config", "check"]),
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("checkpoint_intervall_ms"));
}

#[test]
fn doctor_finds_a_key_file_others_can_read_and_passes_once_it_is_fixed() {
    use std::os::unix::fs::PermissionsExt;
    let database = TestDatabase::empty();
    let data = temp_dir();
    let migrated = output(pdx(data.path(), &database).arg("migrate"));
    assert!(migrated.status.success());
    // A first start generates the keys; `keys rotate` does as much without serving.
    let rotated = output(pdx(data.path(), &database).args(["keys", "rotate"]));
    assert!(rotated.status.success());
    let key = if database.backend() == pdx_storage::Backend::Sqlite {
        data.path().join("keys/master.key")
    } else {
        // On PostgreSQL the master key is given; an operator's key file shows the same check.
        let file = data.path().join("operator-master.key");
        assert!(std::fs::write(&file, format!("{TEST_MASTER_KEY}\n")).is_ok());
        file
    };
    let doctor = |data: &Path| {
        let mut command = pdx(data, &database);
        if database.backend() == pdx_storage::Backend::Postgres {
            command
                .env_remove("PDX_KEYS__MASTER_KEY")
                .env("PDX_KEYS__MASTER_KEY_FILE", &key);
        }
        output(command.arg("doctor"))
    };
    assert!(std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).is_ok());
    let exposed = doctor(data.path());
    let said = String::from_utf8_lossy(&exposed.stdout).into_owned();
    assert!(!exposed.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("key files") && l.contains("chmod 600")),
        "{said}"
    );

    assert!(std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).is_ok());
    // A server running on the database announces itself: the doctor names it.
    let announced = database.database().conn().map(|mut conn| {
        pdx_storage::presence::announce(&mut conn, "replica-a:42:0f0f0f0f", SystemClock.now())
    });
    assert!(matches!(announced, Ok(Ok(_))), "{announced:?}");
    let healthy = doctor(data.path());
    let said = String::from_utf8_lossy(&healthy.stdout).into_owned();
    assert!(healthy.status.success(), "{said}");
    // The disk's free space is the machine's: reported, whatever it is.
    assert!(
        said.lines()
            .any(|l| l.contains("disk") && l.contains("GiB free")),
        "{said}"
    );
    for subject in [
        "migrations",
        "server keys",
        "blob store",
        "clock",
        "mail queue",
        "1 running on this database: replica-a:42:0f0f0f0f",
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with("ok") && l.contains(subject)),
            "{subject}: {said}"
        );
    }
    assert!(
        said.contains("a probe was written, read back and deleted"),
        "{said}"
    );

    // The schema a step behind the binary, as when a new version is installed before
    // `pdx migrate` has run: the doctor names the migration and says what applies it.
    #[derive(diesel::QueryableByName)]
    struct Newest {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let forgotten = database.database().conn().map(|mut conn| {
        use diesel::RunQueryDsl;
        let newest: Newest =
            diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
                .get_result(&mut conn)?;
        diesel::sql_query("DELETE FROM __diesel_schema_migrations WHERE version = $1")
            .bind::<diesel::sql_types::Text, _>(&newest.version)
            .execute(&mut conn)?;
        Ok::<_, diesel::result::Error>(newest.version)
    });
    let Ok(Ok(forgotten)) = forgotten else {
        panic!("cannot forget the newest migration: {forgotten:?}")
    };
    let behind = doctor(data.path());
    let said = String::from_utf8_lossy(&behind.stdout).into_owned();
    assert!(behind.status.success(), "a warning is no failure: {said}");
    assert!(
        said.lines().any(|l| l.starts_with("warn")
            && l.contains("migrations")
            && l.contains("1 pending (")
            // Named as its directory is (`2026-12-09-010000_…`); recorded by its digits.
            && l.replace('-', "").contains(&forgotten)
            && l.contains("pdx migrate")),
        "{forgotten}: {said}"
    );
}

#[test]
fn a_backup_made_by_the_command_restores_into_a_new_installation_with_a_verified_ledger() {
    let database = TestDatabase::empty();
    let data = temp_dir();
    let rotated = output(pdx(data.path(), &database).args(["keys", "rotate"]));
    assert!(rotated.status.success());
    let archive = data.path().join("backup.tar.gz");
    let backup = output(
        pdx(data.path(), &database)
            .args(["backup", "--output"])
            .arg(&archive),
    );
    let said = String::from_utf8_lossy(&backup.stdout).into_owned();
    assert!(
        backup.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(said.contains("Backup written"), "{said}");
    if database.backend() == pdx_storage::Backend::Postgres {
        assert!(
            said.contains("pg_dump"),
            "the database is dumped apart: {said}"
        );
        return;
    }
    let target = temp_dir();
    let restored = output(
        pdx(target.path(), &database)
            .env_remove("PDX_DATABASE_URL")
            .args(["restore", "--input"])
            .arg(&archive),
    );
    let said = String::from_utf8_lossy(&restored.stdout).into_owned();
    assert!(
        restored.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(said.contains("The ledger verifies"), "{said}");
    assert!(target.path().join("pdx.sqlite3").is_file());
}
