//! How pgtide sends a statement: a cached named prepared statement on a direct connection, or an
//! unnamed one behind a transaction pooler.
//!
//! Named prepared statements are session state. Behind PgBouncer in transaction mode, consecutive
//! transactions of one client land on different server connections, so a statement prepared on one is
//! missing on the next ("prepared statement \"s3\" does not exist"). In pooler mode
//! ([`Database::for_transaction_pooler`]) every statement therefore goes out as one unnamed
//! Parse/Bind/Execute/Sync message group (`query_typed`), which the pooler forwards as a unit. That
//! form needs the parameter types up front: they are learned once per statement text on a side
//! connection, inside BEGIN/COMMIT so the describe and its Close reach the same server connection,
//! and cached for the life of the process.

use std::{collections::HashMap, future::Future, sync::Arc};

use tokio_postgres::{
    types::{ToSql, Type},
    GenericClient, Row, Statement,
};

use super::Database;
use crate::{Error, Result};

/// A pooled connection or a transaction on one: anything pgtide runs its statements on.
pub(crate) trait Session: Sync {
    /// Whether this is an open transaction (which pins one server connection behind a pooler).
    const TRANSACTION: bool;
    /// The tokio-postgres client or transaction underneath.
    type Generic: GenericClient + Sync;
    /// The client or transaction itself.
    fn generic(&self) -> &Self::Generic;
    /// A named prepared statement, prepared once per connection (direct connections only).
    fn prepare_cached<'a>(
        &'a self,
        sql: &'a str,
        types: &'a [Type],
    ) -> impl Future<Output = std::result::Result<Statement, tokio_postgres::Error>> + Send + 'a;
}

impl Session for deadpool_postgres::Client {
    const TRANSACTION: bool = false;
    type Generic = tokio_postgres::Client;
    fn generic(&self) -> &Self::Generic {
        self
    }
    fn prepare_cached<'a>(
        &'a self,
        sql: &'a str,
        types: &'a [Type],
    ) -> impl Future<Output = std::result::Result<Statement, tokio_postgres::Error>> + Send + 'a
    {
        deadpool_postgres::ClientWrapper::prepare_typed_cached(self, sql, types)
    }
}

impl<'t> Session for deadpool_postgres::Transaction<'t> {
    const TRANSACTION: bool = true;
    type Generic = tokio_postgres::Transaction<'t>;
    fn generic(&self) -> &Self::Generic {
        self
    }
    fn prepare_cached<'a>(
        &'a self,
        sql: &'a str,
        types: &'a [Type],
    ) -> impl Future<Output = std::result::Result<Statement, tokio_postgres::Error>> + Send + 'a
    {
        deadpool_postgres::Transaction::prepare_typed_cached(self, sql, types)
    }
}

/// Parameter types learned per statement text (pooler mode only).
#[derive(Default)]
pub(super) struct TypeCache {
    types: std::sync::Mutex<HashMap<String, Arc<[Type]>>>,
    /// A connection of its own for describing statements, opened on first use.
    describer: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Database {
    /// Runs `sql` on `session` and returns its rows.
    pub(crate) async fn query<S: Session>(
        &self,
        session: &S,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>> {
        self.query_declared(session, sql, &[], params).await
    }

    /// Like [`Database::query`], with the types of the first parameters declared (the rest inferred).
    pub(crate) async fn query_declared<S: Session>(
        &self,
        session: &S,
        sql: &str,
        declared: &[Type],
        params: Params<'_>,
    ) -> Result<Vec<Row>> {
        match &self.pooler {
            None => {
                let statement = session.prepare_cached(sql, declared).await?;
                Ok(session.generic().query(&statement, params).await?)
            }
            Some(cache) => {
                let types = self.param_types(session, cache, sql, declared).await?;
                let typed = typed(sql, params, &types)?;
                Ok(session.generic().query_typed(sql, &typed).await?)
            }
        }
    }

    /// Prepares `sql` on `session` (or learns its parameter types behind a pooler) ahead of use, so
    /// that statements sent at once afterwards go out in the order they are made: an unprepared one
    /// would wait for its Parse answer while later ones overtook it.
    pub(crate) async fn prepare_declared<S: Session>(
        &self,
        session: &S,
        sql: &str,
        declared: &[Type],
    ) -> Result<()> {
        match &self.pooler {
            None => session.prepare_cached(sql, declared).await.map(drop)?,
            Some(cache) => self
                .param_types(session, cache, sql, declared)
                .await
                .map(drop)?,
        }
        Ok(())
    }

    /// Runs `sql`, which must return exactly one row.
    pub(crate) async fn query_one<S: Session>(
        &self,
        session: &S,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row> {
        let mut rows = self.query(session, sql, params).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(Error::Decode(format!(
                "expected one row, got {n} from: {}",
                first_line(sql)
            ))),
        }
    }

    /// Runs `sql`, which returns at most one row.
    pub(crate) async fn query_opt<S: Session>(
        &self,
        session: &S,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>> {
        let mut rows = self.query(session, sql, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(Some(rows.remove(0))),
            n => Err(Error::Decode(format!(
                "expected at most one row, got {n} from: {}",
                first_line(sql)
            ))),
        }
    }

    /// Runs `sql` and returns the number of rows it changed.
    pub(crate) async fn execute<S: Session>(
        &self,
        session: &S,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64> {
        match &self.pooler {
            None => {
                let statement = session.prepare_cached(sql, &[]).await?;
                Ok(session.generic().execute(&statement, params).await?)
            }
            Some(cache) => {
                let types = self.param_types(session, cache, sql, &[]).await?;
                let typed = typed(sql, params, &types)?;
                Ok(session.generic().execute_typed(sql, &typed).await?)
            }
        }
    }

    /// Learns the parameter types of `sql` (pooler mode). Inside a transaction the statement is
    /// described on the transaction's own server connection (waiting for another one could deadlock a
    /// small pool); otherwise on the side connection, inside BEGIN/COMMIT.
    async fn param_types<S: Session>(
        &self,
        session: &S,
        cache: &TypeCache,
        sql: &str,
        declared: &[Type],
    ) -> Result<Arc<[Type]>> {
        if let Some(types) = cache.types.lock().expect("type cache").get(sql) {
            return Ok(types.clone());
        }
        let types: Arc<[Type]> = if S::TRANSACTION {
            // Dropping the statement sends its Close inside this transaction.
            session
                .generic()
                .prepare_typed(sql, declared)
                .await?
                .params()
                .into()
        } else {
            self.describe_aside(cache, sql, declared).await?
        };
        cache
            .types
            .lock()
            .expect("type cache")
            .insert(sql.to_string(), types.clone());
        Ok(types)
    }

    /// Describes `sql` on the side connection, inside BEGIN/COMMIT so that the describe and the Close
    /// its drop sends reach the same server connection behind the pooler.
    async fn describe_aside(
        &self,
        cache: &TypeCache,
        sql: &str,
        declared: &[Type],
    ) -> Result<Arc<[Type]>> {
        let mut describer = cache.describer.lock().await;
        if describer
            .as_ref()
            .is_none_or(tokio_postgres::Client::is_closed)
        {
            let (client, _messages) = self.dedicated().await?;
            *describer = Some(client);
        }
        let client = describer.as_ref().expect("opened above");
        client.batch_execute(crate::sql::TX_BEGIN).await?;
        let types: Arc<[Type]> = match client.prepare_typed(sql, declared).await {
            Ok(statement) => statement.params().into(),
            Err(e) => {
                let _ = client.batch_execute("rollback").await;
                return Err(e.into());
            }
        };
        client.batch_execute(crate::sql::TX_COMMIT).await?;
        Ok(types)
    }
}

fn typed<'a>(
    sql: &str,
    params: Params<'a>,
    types: &[Type],
) -> Result<Vec<(&'a (dyn ToSql + Sync), Type)>> {
    if params.len() != types.len() {
        return Err(Error::Decode(format!(
            "statement expects {} parameters, got {}: {}",
            types.len(),
            params.len(),
            first_line(sql)
        )));
    }
    Ok(params.iter().copied().zip(types.iter().cloned()).collect())
}

fn first_line(sql: &str) -> &str {
    sql.lines()
        .find(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
        .unwrap_or(sql)
        .trim()
}
