//! PostgreSQL and Redis adapters. Nothing here knows about HTTP.

pub mod bookings;
pub mod browse_reads;
pub mod cache;
pub mod catalog;
pub mod dashboard;
pub mod deltas;
pub mod ledger;
pub mod locks;
pub mod provider_ledger;
pub mod redis;
pub mod seats;
pub mod users;
pub mod waiting_room;

/// The name of the constraint a database error violated, if any.
pub fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// Whether PostgreSQL answers a trivial query (readiness).
pub async fn ping(pool: &sqlx::PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}
