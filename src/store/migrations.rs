//! Schema migrations: the numbered files in `migrations/`, compiled in and applied by
//! the app itself the first time a request finds the database behind.
//!
//! `PRAGMA user_version` holds the applied version, so the check on every request is one
//! cheap statement. Applying runs inside `BEGIN IMMEDIATE` and re-reads the version
//! there: when many first requests race on an empty database, exactly one applies each
//! migration and the others find the work done.

use super::database::FailureKind;
use super::{Dialect, Pace, Sql, Value};

use super::{Db, Row, Rows, StoreError};

/// One numbered migration file.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. Files are never edited once landed; add a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_api_keys",
        sql: include_str!("../../migrations/0001_api_keys.sql"),
    },
    Migration {
        version: 2,
        name: "0002_products_and_stock",
        sql: include_str!("../../migrations/0002_products_and_stock.sql"),
    },
    Migration {
        version: 3,
        name: "0003_orders",
        sql: include_str!("../../migrations/0003_orders.sql"),
    },
    Migration {
        version: 4,
        name: "0004_search_index_written_by_the_app",
        sql: include_str!("../../migrations/0004_search_index_written_by_the_app.sql"),
    },
    Migration {
        version: 5,
        name: "0005_sales_rollups",
        sql: include_str!("../../migrations/0005_sales_rollups.sql"),
    },
    Migration {
        version: 6,
        name: "0006_one_rollup_table_and_implied_first_history",
        sql: include_str!("../../migrations/0006_one_rollup_table_and_implied_first_history.sql"),
    },
    Migration {
        version: 7,
        name: "0007_events_and_webhooks",
        sql: include_str!("../../migrations/0007_events_and_webhooks.sql"),
    },
    Migration {
        version: 8,
        name: "0008_order_bookkeeping_written_by_triggers",
        sql: include_str!("../../migrations/0008_order_bookkeeping_written_by_triggers.sql"),
    },
    Migration {
        version: 9,
        name: "0009_stock_reservations",
        sql: include_str!("../../migrations/0009_stock_reservations.sql"),
    },
];

/// PostgreSQL's schema starts where SQLite's stands after its migration 6, in one file;
/// from here on both grow together, each in its own folder.
const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_schema",
        sql: include_str!("../../migrations/postgres/0001_schema.sql"),
    },
    Migration {
        version: 2,
        name: "0002_events_and_webhooks",
        sql: include_str!("../../migrations/postgres/0002_events_and_webhooks.sql"),
    },
    Migration {
        version: 3,
        name: "0003_stock_reservations",
        sql: include_str!("../../migrations/postgres/0003_stock_reservations.sql"),
    },
];

fn migrations_of(dialect: Dialect) -> &'static [Migration] {
    match dialect {
        Dialect::Sqlite => MIGRATIONS,
        Dialect::Postgres => POSTGRES_MIGRATIONS,
    }
}

fn latest_version(dialect: Dialect) -> i64 {
    migrations_of(dialect)
        .last()
        .map_or(0, |migration| migration.version)
}

// SQLite keeps the applied version in its header (`PRAGMA user_version`, no table read);
// PostgreSQL reads the history table, which is missing on an empty database. Both reads
// take microseconds and never wait: in place (`Pace`).
const READ_VERSION: Sql = Sql::per_dialect(
    "PRAGMA user_version",
    "SELECT coalesce(max(version), 0) FROM schema_migrations",
)
.paced(Pace::InPlace);
/// The version as the first column of a query, for statements that check the schema as
/// they run (`Db::execute_checking_schema`).
pub const READ_VERSION_AS_ROW: Sql = Sql::per_dialect(
    "SELECT user_version FROM pragma_user_version",
    "SELECT coalesce(max(version), 0) FROM schema_migrations",
)
.paced(Pace::InPlace);
// WAL lets readers run alongside the one writer; the mode is stored in the database
// file, and SQLite refuses to change it inside a transaction.
const ENABLE_WAL: Sql = Sql::sqlite_only("PRAGMA journal_mode = WAL");
// PostgreSQL runs DDL in transactions but does not serialize two of them creating the
// same tables: the first request of every instance takes this lock (the key is any
// constant of ours), and whoever comes second finds the work done. SQLite's
// `BEGIN IMMEDIATE` already admits one writer.
const LOCK_MIGRATIONS: Sql = Sql::postgres_only("SELECT 1 FROM pg_advisory_xact_lock(4617301009)");
const CREATE_HISTORY: Sql = Sql::per_dialect(
    "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)",
    "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
        DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
)",
);
const RECORD_MIGRATION: Sql =
    Sql::portable("INSERT INTO schema_migrations (version, name) VALUES (?, ?)");

/// Whether a query's first column (see `READ_VERSION_AS_ROW`) shows the latest schema.
pub fn reports_latest_version(result: &Rows, dialect: Dialect) -> bool {
    Row::first(result)
        .and_then(|row| row.integer(0).ok())
        .is_some_and(|version| version >= latest_version(dialect))
}

/// Brings the schema up to the latest version; a no-op (one statement) when it already
/// is.
pub async fn apply_pending(db: &Db) -> Result<(), StoreError> {
    let dialect = db.dialect();
    let latest = latest_version(dialect);
    if schema_version(db).await? >= latest {
        return Ok(());
    }
    // A backend without journal modes (remote libSQL) manages its own log, so only lock
    // contention fails here: the migration is then retried by a later request.
    if let Err(StoreError::Busy) = db.execute_unchecked(&ENABLE_WAL, &[]).await {
        return Err(StoreError::Busy);
    }
    db.transaction_unchecked(async |db| {
        db.execute_unchecked(&LOCK_MIGRATIONS, &[]).await?;
        db.execute_unchecked(&CREATE_HISTORY, &[]).await?;
        let current = schema_version(db).await?;
        if current >= latest {
            return Ok(());
        }
        for migration in migrations_of(dialect)
            .iter()
            .filter(|m| m.version > current)
        {
            for statement in split_statements(migration.sql) {
                db.execute_text(&statement, &[]).await?;
            }
            db.execute_unchecked(
                &RECORD_MIGRATION,
                &[
                    Value::Integer(migration.version),
                    Value::Text(migration.name.into()),
                ],
            )
            .await?;
        }
        if dialect == Dialect::Sqlite {
            // PRAGMA takes no bound parameters; the value is our own compiled-in constant.
            db.execute_text(&format!("PRAGMA user_version = {latest}"), &[])
                .await?;
        }
        Ok(())
    })
    .await
}

/// The applied version; 0 on an empty database.
async fn schema_version(db: &Db) -> Result<i64, StoreError> {
    let result = match db.execute_retrying(&READ_VERSION, &[]).await {
        Ok(result) => result,
        Err(failure) if failure.kind == FailureKind::NoSuchTable => return Ok(0),
        Err(failure) => return Err(failure.into()),
    };
    Row::first(&result).map_or(Ok(0), |row| row.integer(0))
}

/// Splits a migration file into single statements, because Spin's `execute` runs only
/// the first statement of a string and silently drops the rest. Semicolons inside
/// quotes, comments and trigger bodies (`CREATE TRIGGER … BEGIN …; END;`) do not split.
fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut block_depth = 0usize;
    let mut chars = sql.chars().peekable();

    while let Some(character) = chars.next() {
        if character.is_ascii_alphanumeric() || character == '_' {
            word.push(character.to_ascii_uppercase());
            current.push(character);
            continue;
        }
        if !word.is_empty() {
            block_depth = track_block_depth(&words, &word, block_depth);
            words.push(std::mem::take(&mut word));
        }
        match character {
            '\'' | '"' | '`' => {
                current.push(character);
                for quoted in chars.by_ref() {
                    current.push(quoted);
                    if quoted == character {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for skipped in chars.by_ref() {
                    if previous == '*' && skipped == '/' {
                        break;
                    }
                    previous = skipped;
                }
                current.push(' ');
            }
            ';' if block_depth == 0 => {
                let statement = current.trim();
                if !statement.is_empty() {
                    statements.push(statement.to_string());
                }
                current.clear();
                words.clear();
            }
            _ => current.push(character),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let statement = current.trim();
    if !statement.is_empty() {
        statements.push(statement.to_string());
    }
    statements
}

/// Inside `CREATE TRIGGER`, `BEGIN` and `CASE` open a block that `END` closes.
fn track_block_depth(previous_words: &[String], word: &str, depth: usize) -> usize {
    let in_trigger = previous_words
        .first()
        .is_some_and(|first| first == "CREATE")
        && previous_words.iter().take(4).any(|w| w == "TRIGGER");
    match word {
        "BEGIN" if in_trigger => depth + 1,
        "CASE" if depth > 0 => depth + 1,
        "END" if depth > 0 => depth - 1,
        _ => depth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_trigger_bodies() {
        let sql = "-- a comment; with a semicolon\n\
            CREATE TABLE t (a TEXT DEFAULT 'x;y'); /* block; */\n\
            CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN\n\
              INSERT INTO log VALUES (CASE WHEN new.a = ';' THEN 1 ELSE 2 END);\n\
              DELETE FROM log WHERE a = 0;\n\
            END;\n\
            CREATE INDEX i ON t (a)";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert_eq!(statements[0], "CREATE TABLE t (a TEXT DEFAULT 'x;y')");
        assert!(statements[1].starts_with("CREATE TRIGGER t_ai"));
        assert!(statements[1].ends_with("END"));
        assert_eq!(statements[2], "CREATE INDEX i ON t (a)");
    }

    #[test]
    fn every_migration_file_is_compiled_in_with_its_number() {
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(directory)
            .expect("migrations directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let compiled: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.name))
            .collect();
        assert_eq!(files, compiled);
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
            assert!(
                migration
                    .name
                    .starts_with(&format!("{:04}_", migration.version))
            );
        }
    }
}
