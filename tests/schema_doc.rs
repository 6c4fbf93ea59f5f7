//! `docs/store-schema.md` describes every table and column of the SQLite and PostgreSQL
//! schemas, as the stores create them: a column added without its description fails here.

mod support;

use support::postgres::{fresh_schema, server};
use workflow_rt::{PostgresStore, SqliteStore};

const DOC: &str = include_str!("../docs/store-schema.md");

/// The part of the document about `table`: from its heading to the next one.
fn section(table: &str) -> Option<&'static str> {
    let heading = format!("## `{table}`");
    let start = DOC.find(&heading)?;
    let rest = &DOC[start + heading.len()..];
    Some(&rest[..rest.find("\n## ").unwrap_or(rest.len())])
}

/// The `(table, column)` pairs the document does not describe.
fn undocumented(columns: &[(String, String)]) -> Vec<String> {
    columns
        .iter()
        .filter(|(table, column)| {
            !section(table).is_some_and(|s| s.contains(&format!("`{column}`")))
        })
        .map(|(t, c)| format!("{t}.{c}"))
        .collect()
}

#[test]
fn every_sqlite_table_and_column_is_documented() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("schema.db");
    drop(SqliteStore::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(tables.len() >= 6, "{tables:?}");
    let mut columns = Vec::new();
    for table in &tables {
        let names: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(!names.is_empty(), "{table} has columns");
        columns.extend(names.into_iter().map(|c| (table.clone(), c)));
    }
    let missing = undocumented(&columns);
    assert!(
        missing.is_empty(),
        "not in docs/store-schema.md: {missing:?}"
    );
}

#[tokio::test]
async fn every_postgres_table_and_column_is_documented() {
    let Some(server) = server("every_postgres_table_and_column_is_documented") else {
        return;
    };
    let schema = fresh_schema("doc");
    drop(
        PostgresStore::builder(server.url())
            .schema(schema.clone())
            .connect()
            .await
            .expect("connect"),
    );
    let (client, conn) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            &[&schema],
        )
        .await
        .expect("columns");
    let columns: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(columns.len() > 20, "{columns:?}");
    let missing = undocumented(&columns);
    assert!(
        missing.is_empty(),
        "not in docs/store-schema.md: {missing:?}"
    );
}

#[test]
fn a_column_left_out_is_found() {
    let columns = vec![
        ("workflows".to_string(), "status".to_string()),
        ("workflows".to_string(), "no_such_column".to_string()),
        ("no_such_table".to_string(), "id".to_string()),
    ];
    assert_eq!(
        undocumented(&columns),
        ["workflows.no_such_column", "no_such_table.id"]
    );
}
