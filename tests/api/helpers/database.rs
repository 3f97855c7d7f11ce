//! The database of a test: a fresh SQLite file, or, when `TEST_POSTGRES_URL` names a
//! PostgreSQL server (`make test-postgres`), a fresh PostgreSQL database created
//! through that URL for each test and dropped when the test lets go of it; and a
//! test's own connection to it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, FromRow, PgConnection, SqliteConnection};
use tempfile::TempDir;

/// Where a test's messages live. Several processes (a restart, replicas) may share one.
pub enum TestDatabase {
    /// `app.db` in a temporary directory, removed with it.
    Sqlite(TempDir),
    /// A database of its own on the server at `TEST_POSTGRES_URL`, dropped on drop.
    Postgres(PostgresDatabase),
}

/// The PostgreSQL server at `TEST_POSTGRES_URL`, when that is set and not empty: the
/// URL of a database there that the tests may connect to in order to create others.
pub fn postgres_server() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// The PostgreSQL server for a test that only makes sense on PostgreSQL; without one,
/// says on stderr (past the test harness's capture) that the test is skipped, and why.
pub fn postgres_or_skip() -> Option<String> {
    let server = postgres_server();
    if server.is_none() {
        use std::io::Write;
        // The test harness names each test's thread after the test.
        let thread = std::thread::current();
        let _ = writeln!(
            std::io::stderr(),
            "skipped {}: needs PostgreSQL (TEST_POSTGRES_URL, as `make test-postgres` sets)",
            thread.name().unwrap_or("a PostgreSQL test")
        );
    }
    server
}

impl TestDatabase {
    /// A fresh, empty database of the backend under test: PostgreSQL when
    /// `TEST_POSTGRES_URL` is set, SQLite otherwise.
    pub async fn fresh() -> Arc<Self> {
        match postgres_server() {
            Some(server) => Self::postgres(&server).await,
            None => Self::sqlite(),
        }
    }

    /// A fresh SQLite file, whichever backend is under test.
    pub fn sqlite() -> Arc<Self> {
        Self::sqlite_in(tempfile::tempdir().expect("temporary directory"))
    }

    /// A fresh SQLite file in `dir` (which is removed with it).
    pub fn sqlite_in(dir: TempDir) -> Arc<Self> {
        Arc::new(Self::Sqlite(dir))
    }

    /// A fresh database on the PostgreSQL server that `server` (a URL) reaches.
    pub async fn postgres(server: &str) -> Arc<Self> {
        let name = format!("wi_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server)
            .await
            .unwrap_or_else(|error| panic!("connect to TEST_POSTGRES_URL: {error}"));
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.expect("close");
        Arc::new(Self::Postgres(PostgresDatabase {
            url: with_database(server, &name),
            server: server.to_owned(),
            name,
        }))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The `DATABASE_URL` that opens this database.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(_) => format!("sqlite://{}", self.sqlite_path().display()),
            Self::Postgres(database) => database.url.clone(),
        }
    }

    /// The SQLite file; panics on PostgreSQL.
    pub fn sqlite_path(&self) -> PathBuf {
        match self {
            Self::Sqlite(dir) => dir.path().join("app.db"),
            Self::Postgres(_) => panic!("a PostgreSQL test database has no file"),
        }
    }

    /// A connection of the test's own.
    pub async fn connect(&self) -> TestConnection {
        match self {
            Self::Sqlite(_) => TestConnection::Sqlite(
                SqliteConnectOptions::new()
                    .filename(self.sqlite_path())
                    .busy_timeout(Duration::from_secs(10))
                    .connect()
                    .await
                    .expect("open the app's database"),
            ),
            Self::Postgres(database) => TestConnection::Postgres(
                PgConnection::connect(&database.url)
                    .await
                    .expect("connect to the app's database"),
            ),
        }
    }
}

/// A PostgreSQL database created for one test.
pub struct PostgresDatabase {
    /// The URL the database was created through.
    server: String,
    name: String,
    url: String,
}

impl Drop for PostgresDatabase {
    /// Drops the database, ending any session still connected (a killed server's, a
    /// test's). On a thread of its own, with its own runtime: a drop cannot await, and
    /// may run inside the test's runtime.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(async {
                    let mut admin = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await?;
                    admin.close().await
                })
                .map_err(|error| error.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panicked", self.name),
        }
    }
}

/// `server` (a PostgreSQL URL) with its database name replaced by `name`; the query
/// string (`?sslmode=…`) is kept.
pub fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let authority_start = base.find("://").expect("a URL with a scheme") + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |slash| authority_start + slash);
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// A test's own connection to an app's database, on either backend. Statements
/// written in the SQL both backends share run through the methods; anything
/// backend-specific matches on the variant.
pub enum TestConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl TestConnection {
    /// Runs one or several `;`-separated statements, without parameters.
    pub async fn execute(&mut self, statements: &str) {
        let done = match self {
            Self::Sqlite(connection) => sqlx::raw_sql(statements)
                .execute(connection)
                .await
                .map(drop),
            Self::Postgres(connection) => sqlx::raw_sql(statements)
                .execute(connection)
                .await
                .map(drop),
        };
        done.unwrap_or_else(|error| panic!("{statements}: {error}"));
    }

    /// Every row `query` (no parameters) returns.
    pub async fn fetch_all<T>(&mut self, query: &str) -> Vec<T>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let rows = match self {
            Self::Sqlite(connection) => sqlx::query_as(query).fetch_all(connection).await,
            Self::Postgres(connection) => sqlx::query_as(query).fetch_all(connection).await,
        };
        rows.unwrap_or_else(|error| panic!("{query}: {error}"))
    }

    /// The one row `query` (no parameters) returns.
    pub async fn fetch_one<T>(&mut self, query: &str) -> T
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let row = match self {
            Self::Sqlite(connection) => sqlx::query_as(query).fetch_one(connection).await,
            Self::Postgres(connection) => sqlx::query_as(query).fetch_one(connection).await,
        };
        row.unwrap_or_else(|error| panic!("{query}: {error}"))
    }

    /// How many rows `messages` holds, counted row by row (not from the aggregates).
    pub async fn count_messages(&mut self) -> i64 {
        self.fetch_one::<(i64,)>("SELECT COUNT(*) FROM messages")
            .await
            .0
    }

    /// Every stored `message_id`, decoded (PostgreSQL stores them as bytes).
    pub async fn message_ids(&mut self) -> Vec<String> {
        match self {
            Self::Sqlite(_) => self
                .fetch_all::<(String,)>("SELECT message_id FROM messages")
                .await
                .into_iter()
                .map(|(id,)| id)
                .collect(),
            Self::Postgres(_) => self
                .fetch_all::<(Vec<u8>,)>("SELECT message_id FROM messages")
                .await
                .into_iter()
                .map(|(id,)| String::from_utf8(id).expect("a UTF-8 message_id"))
                .collect(),
        }
    }

    pub async fn close(self) {
        match self {
            Self::Sqlite(connection) => connection.close().await,
            Self::Postgres(connection) => connection.close().await,
        }
        .expect("close the connection");
    }
}
