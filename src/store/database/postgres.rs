//! PostgreSQL through Spin's Postgres interface (`spin:postgres/postgres@4.2.0`).
//!
//! Spin keeps a pool of server connections per address (deadpool, up to 64), so opening
//! here takes a pooled client; dropping the connection gives it back. Every statement is
//! prepared and executed by the host (tokio-postgres `query_raw`).

use spin_sdk::pg::{Connection, DbValue, ParameterValue, PgError, QueryError};

use super::{Failure, FailureKind, RowValues, Value};

pub async fn open(url: &str) -> Result<Connection, Failure> {
    let connection = Connection::open(url)
        .await
        .map_err(|error| classify_open(classify_sdk(error)))?;
    // Spin's pool recycles a connection without ending its transaction (deadpool's
    // `Clean` runs no ROLLBACK), so a connection whose request ended mid-transaction
    // (cancelled while waiting) would come back with that transaction open, its locks
    // held, and the next request's COMMIT would commit it. Ending any transaction first
    // makes every request start clean; outside one, PostgreSQL only warns.
    execute(&connection, "ROLLBACK", &[])
        .await
        .map_err(classify_open)?;
    Ok(connection)
}

pub async fn execute(
    connection: &Connection,
    sql: &str,
    parameters: &[Value],
) -> Result<Vec<RowValues>, Failure> {
    let statement = numbered_placeholders(sql, parameters);
    let parameters: Vec<ParameterValue> = parameters.iter().map(to_parameter).collect();
    let mut result = connection
        .query(statement, parameters)
        .await
        .map_err(classify_sdk)?;
    let mut rows = Vec::new();
    while let Some(row) = result.rows().next().await {
        rows.push(RowValues {
            values: row
                .into_iter()
                .map(from_db_value)
                .collect::<Result<_, _>>()?,
        });
    }
    result.result().await.map_err(classify_sdk)?;
    Ok(rows)
}

/// Rewrites SQLite's placeholders (`?`, `?N`) as PostgreSQL's (`$N`), each cast to the
/// type of the value bound to it.
///
/// The cast is needed because Spin binds an integer only to an `int8` parameter and a
/// string only to a text one, while PostgreSQL infers a parameter's type from its
/// context (`substr(?, 1, ?)` would want `int4`, `? AS status` nothing at all). With the
/// cast, the value decides, as it does in SQLite. NULL stays uncast and takes the type
/// its context gives it.
fn numbered_placeholders(sql: &str, parameters: &[Value]) -> String {
    let mut output = String::with_capacity(sql.len() + 16);
    let mut characters = sql.char_indices().peekable();
    let mut highest = 0usize;
    let mut quote: Option<char> = None;
    while let Some((_, character)) = characters.next() {
        if let Some(open) = quote {
            output.push(character);
            if character == open {
                quote = None;
            }
            continue;
        }
        match character {
            '\'' | '"' => {
                quote = Some(character);
                output.push(character);
            }
            '?' => {
                let mut digits = String::new();
                while let Some((_, digit)) = characters.peek().filter(|(_, c)| c.is_ascii_digit()) {
                    digits.push(*digit);
                    characters.next();
                }
                let index = digits.parse::<usize>().unwrap_or(highest + 1);
                highest = highest.max(index);
                output.push('$');
                output.push_str(&index.to_string());
                output.push_str(match parameters.get(index.wrapping_sub(1)) {
                    Some(Value::Integer(_)) => "::int8",
                    Some(Value::Real(_)) => "::float8",
                    Some(Value::Text(_)) => "::text",
                    Some(Value::Blob(_)) => "::bytea",
                    Some(Value::Null) | None => "",
                });
            }
            _ => output.push(character),
        }
    }
    output
}

fn to_parameter(value: &Value) -> ParameterValue {
    match value {
        Value::Integer(number) => ParameterValue::Int64(*number),
        Value::Real(number) => ParameterValue::Floating64(*number),
        Value::Text(text) => ParameterValue::Str(text.clone()),
        Value::Blob(bytes) => ParameterValue::Binary(bytes.clone()),
        Value::Null => ParameterValue::DbNull,
    }
}

/// PostgreSQL's types onto SQLite's storage classes: booleans are 0/1 (SQLite has none),
/// and a NUMERIC (what `sum` of `bigint` returns) is an integer when it is whole.
fn from_db_value(value: DbValue) -> Result<Value, Failure> {
    Ok(match value {
        DbValue::Boolean(flag) => Value::Integer(i64::from(flag)),
        DbValue::Int8(number) => Value::Integer(number.into()),
        DbValue::Int16(number) => Value::Integer(number.into()),
        DbValue::Int32(number) => Value::Integer(number.into()),
        DbValue::Int64(number) => Value::Integer(number),
        DbValue::Floating32(number) => Value::Real(number.into()),
        DbValue::Floating64(number) => Value::Real(number),
        DbValue::Str(text) => Value::Text(text),
        DbValue::Binary(bytes) => Value::Blob(bytes),
        DbValue::Decimal(text) => match text.parse::<i64>() {
            Ok(number) => Value::Integer(number),
            Err(_) => Value::Real(text.parse().map_err(|_| unsupported(&text))?),
        },
        DbValue::Jsonb(bytes) => Value::Text(String::from_utf8(bytes).map_err(unsupported)?),
        DbValue::DbNull => Value::Null,
        other => return Err(unsupported(other)),
    })
}

/// A value that cannot be read as any of `Value`'s kinds.
fn unsupported(what: impl std::fmt::Debug) -> Failure {
    Failure::new(
        FailureKind::Statement,
        format!("unsupported database value {what:?}"),
    )
}

fn classify_sdk(error: spin_sdk::pg::Error) -> Failure {
    match error {
        spin_sdk::pg::Error::PgError(error) => classify(error),
        other => Failure::new(FailureKind::Statement, format!("postgres: {other}")),
    }
}

/// Opening fails only for reasons outside the statement: the server is unreachable,
/// refuses the credentials, has no room, or the address is not allowed.
fn classify_open(failure: Failure) -> Failure {
    Failure::new(FailureKind::ConnectionLost, failure.message)
}

/// What PostgreSQL's answer means, by SQLSTATE where the server sent one.
fn classify(error: PgError) -> Failure {
    match error {
        PgError::QueryFailed(QueryError::DbError(db_error)) => {
            let kind = match db_error.code.as_str() {
                "23505" => FailureKind::UniqueViolation,
                // serialization_failure, deadlock_detected: the transaction is void.
                "40001" | "40P01" => FailureKind::RolledBackByServer,
                // too_many_connections, lock_not_available
                "53300" | "55P03" => FailureKind::Busy,
                "42P01" => FailureKind::NoSuchTable,
                // connection exceptions; admin or crash shutdown, cannot connect now
                code if code.starts_with("08") || code.starts_with("57P") => {
                    FailureKind::ConnectionLost
                }
                _ => FailureKind::Statement,
            };
            Failure::new(
                kind,
                format!("postgres: {} ({})", db_error.message, db_error.code),
            )
        }
        // No SQLSTATE: the client's own failure, which for a statement means the
        // connection (closed, broken, timed out).
        PgError::QueryFailed(QueryError::Text(message)) => {
            Failure::new(FailureKind::ConnectionLost, format!("postgres: {message}"))
        }
        PgError::ConnectionFailed(message) | PgError::Other(message) => {
            Failure::new(FailureKind::ConnectionLost, format!("postgres: {message}"))
        }
        PgError::BadParameter(message) | PgError::ValueConversionFailed(message) => {
            Failure::new(FailureKind::Statement, format!("postgres: {message}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_and_cast_to_their_values_type() {
        let parameters = [
            Value::Integer(1),
            Value::Text("a".into()),
            Value::Null,
            Value::Real(0.5),
        ];
        assert_eq!(
            numbered_placeholders("SELECT ?1, ?2, ?3, ?4, ?1", &parameters),
            "SELECT $1::int8, $2::text, $3, $4::float8, $1::int8"
        );
        assert_eq!(
            numbered_placeholders("VALUES (?, ?, ?)", &parameters),
            "VALUES ($1::int8, $2::text, $3)"
        );
    }

    #[test]
    fn question_marks_in_literals_and_identifiers_stay() {
        assert_eq!(
            numbered_placeholders("SELECT '?', \"a?\", ?", &[Value::Integer(7)]),
            "SELECT '?', \"a?\", $1::int8"
        );
    }
}
