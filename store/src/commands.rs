//! `applied_commands` and `dead_letters`: the record that makes applying a
//! command happen once. A command's id goes into `applied_commands` in the
//! transaction of its effect, so a redelivered or replayed command finds it
//! and changes nothing; a message that cannot be applied is kept in
//! `dead_letters` for an operator.

use domain::RequestId;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

/// Where a command was read from: its partition and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

/// Records the ids of commands about to be applied, in one statement, and
/// returns those not recorded before: the others were applied by an earlier
/// delivery and must change nothing.
pub async fn record_applied(
    conn: &mut PgConnection,
    commands: &[(RequestId, Position)],
) -> Result<HashSet<RequestId>, sqlx::Error> {
    if commands.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<Uuid> = commands.iter().map(|(id, _)| id.0).collect();
    let partitions: Vec<i32> = commands.iter().map(|(_, at)| at.partition).collect();
    let offsets: Vec<i64> = commands.iter().map(|(_, at)| at.offset).collect();
    let fresh: Vec<Uuid> = sqlx::query_scalar(
        r#"insert into applied_commands (command_id, partition, "offset")
           select * from unnest($1::uuid[], $2::int[], $3::bigint[]) as t(c, p, o)
            order by c
           on conflict (command_id) do nothing
           returning command_id"#,
    )
    .bind(&ids)
    .bind(&partitions)
    .bind(&offsets)
    .fetch_all(conn)
    .await?;
    Ok(fresh.into_iter().map(RequestId).collect())
}

/// Keeps a message that cannot be applied, with why; a second copy of the
/// same message is ignored.
pub async fn record_dead_letter(
    conn: &mut PgConnection,
    at: Position,
    payload: Option<&[u8]>,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"insert into dead_letters (partition, "offset", payload, error) values ($1, $2, $3, $4)
           on conflict do nothing"#,
    )
    .bind(at.partition)
    .bind(at.offset)
    .bind(payload)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}
