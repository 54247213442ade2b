//! Bulk statements: many rows in one statement, several statements in one
//! round trip where the driver allows it.

use sqlx::AssertSqlSafe;

use super::{Db, Tx, dialect};
use crate::Result;

/// Rows per bulk statement; keeps bind counts far below both backends' limits.
pub(super) const CHUNK: usize = 200;

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` placeholders.
pub(super) fn values_list(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            dialect::push_param(&mut sql, r * cols + c + 1);
        }
        sql.push(')');
    }
    sql
}

/// `SELECT $1 AS a, $2 AS b UNION ALL SELECT $3, $4`: an inline table that
/// both backends accept (SQLite has no column list on VALUES aliases).
pub(super) fn inline_rows(names: &[&str], rows: usize) -> String {
    let mut sql = String::new();
    for r in 0..rows {
        sql.push_str(if r == 0 { "SELECT " } else { " UNION ALL SELECT " });
        for (c, name) in names.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            dialect::push_param(&mut sql, r * names.len() + c + 1);
            if r == 0 {
                sql.push_str(" AS ");
                sql.push_str(name);
            }
        }
    }
    sql
}

/// A bind value of the column types bulk statements use.
pub(super) enum Val {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}

impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::OptInt(v)
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}

impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::OptText(v)
    }
}

impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        Val::OptText(v.map(str::to_string))
    }
}

/// One statement's text and its parameters, in order.
pub(super) struct Binds {
    sql: String,
    vals: Vec<Val>,
}

impl Binds {
    pub(super) fn new(sql: String) -> Self {
        Self { sql, vals: Vec::new() }
    }

    pub(super) fn bind(mut self, v: impl Into<Val>) -> Self {
        self.vals.push(v.into());
        self
    }
}

type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;
type QueryScalar<'q, O> = sqlx::query::QueryScalar<'q, Db, O, <Db as sqlx::Database>::Arguments>;

impl Binds {
    /// The statement with its parameters bound, to fetch rows with. Its
    /// text is one of a few shapes, so it stays in the prepared-statement
    /// cache.
    pub(super) fn into_query(self) -> Query<'static> {
        self.vals.into_iter().fold(sqlx::query(AssertSqlSafe(self.sql)), bind_val)
    }

    /// The same, for a statement that returns one value.
    pub(super) fn into_query_scalar<O>(self) -> QueryScalar<'static, O>
    where
        O: Send + Unpin,
        (O,): for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>,
    {
        self.vals.into_iter().fold(sqlx::query_scalar(AssertSqlSafe(self.sql)), |q, v| match v {
            Val::Int(v) => q.bind(v),
            Val::OptInt(v) => q.bind(v),
            Val::Text(v) => q.bind(v),
            Val::OptText(v) => q.bind(v),
        })
    }
}

fn bind_val(q: Query<'_>, v: Val) -> Query<'_> {
    match v {
        Val::Int(v) => q.bind(v),
        Val::OptInt(v) => q.bind(v),
        Val::Text(v) => q.bind(v),
        Val::OptText(v) => q.bind(v),
    }
}

/// The bulk statements of one commit. Where the driver allows it (SQLite)
/// they travel as one multi-statement query, one round trip to the database
/// thread; otherwise one after another.
#[derive(Default)]
pub(super) struct Script {
    statements: Vec<Binds>,
}

impl Script {
    pub(super) fn push(&mut self, statement: Binds) {
        self.statements.push(statement);
    }

    pub(super) async fn run(&mut self, tx: &mut Tx<'_>) -> Result<()> {
        let statements = std::mem::take(&mut self.statements);
        if statements.is_empty() {
            return Ok(());
        }
        if dialect::MULTI_STATEMENT_QUERIES {
            let sql = statements.iter().map(|s| s.sql.as_str()).collect::<Vec<_>>().join(";\n");
            // Row counts vary per commit, so these texts rarely repeat: keep them
            // out of the prepared-statement cache.
            let mut q = sqlx::query(AssertSqlSafe(sql)).persistent(false);
            for v in statements.into_iter().flat_map(|s| s.vals) {
                q = bind_val(q, v);
            }
            q.execute(&mut **tx).await?;
        } else {
            for s in statements {
                let mut q = sqlx::query(AssertSqlSafe(s.sql)).persistent(false);
                for v in s.vals {
                    q = bind_val(q, v);
                }
                q.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}
