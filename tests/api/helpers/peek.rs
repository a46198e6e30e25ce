//! Looks into the stores behind the API (PostgreSQL rows, Redis keys), for
//! assertions the HTTP contract cannot make, and the row lock a slow seat
//! transaction would hold.

use sqlx::{Connection, PgConnection};

use super::app::TestApp;

impl TestApp {
    /// The Redis key of a seat's lock.
    pub fn lock_key(&self, event_id: i64, seat: i64) -> String {
        self.event_key(event_id, &format!("seat:{seat}"))
    }

    /// The value of a seat's Redis lock and its remaining time to live in ms
    /// (`None`, -2 when there is no lock).
    pub async fn seat_lock(&self, event_id: i64, seat: i64) -> (Option<String>, i64) {
        let mut conn = self.redis().await;
        let key = self.lock_key(event_id, seat);
        let value: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        (value, ttl)
    }

    /// The remaining time to live (ms) of `seat`'s Redis lock, after
    /// asserting that the lock is `booking`'s.
    pub async fn hold_lock_ttl(&self, event_id: i64, seat: i64, booking: i64) -> i64 {
        let (lock, ttl) = self.seat_lock(event_id, seat).await;
        assert_eq!(lock, Some(self.lock_token_of(booking).await));
        ttl
    }

    /// A pending booking row of `user` for the event, written straight into
    /// PostgreSQL (no seats yet, nothing told to any node); its id.
    pub async fn insert_booking_row(&self, event_id: i64, user: i64, lock_token: &str) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO bookings (event_id, user_id, amount_cents, expires_at, lock_token)
             VALUES ($1, $2, 0, now() + interval '1 hour', $3) RETURNING booking_id",
        )
        .bind(event_id)
        .bind(user)
        .bind(lock_token)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// The lock token a booking's seats are locked with in Redis.
    pub async fn lock_token_of(&self, booking: i64) -> String {
        sqlx::query_scalar("SELECT lock_token FROM bookings WHERE booking_id = $1")
            .bind(booking)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// A booking's status row in PostgreSQL.
    pub async fn booking_status(&self, booking: i64) -> String {
        sqlx::query_scalar("SELECT status FROM bookings WHERE booking_id = $1")
            .bind(booking)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// How many of the event's bookings are pending (holds).
    pub async fn pending_bookings(&self, event_id: i64) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM bookings WHERE event_id = $1 AND status = 'PENDING'",
        )
        .bind(event_id)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// The user a booking belongs to.
    pub async fn owner_of(&self, booking_id: i64) -> i64 {
        sqlx::query_scalar("SELECT user_id FROM bookings WHERE booking_id = $1")
            .bind(booking_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Holds the event's row lock (as a long seat transaction would) until
    /// [`unlock`] ends the returned connection's transaction.
    pub async fn lock_event_row(&self, event_id: i64) -> PgConnection {
        let mut conn = PgConnection::connect(&self.database_url()).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("SELECT 1 FROM events WHERE event_id = $1 FOR UPDATE")
            .bind(event_id)
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    }
}

/// Ends the transaction of [`TestApp::lock_event_row`].
pub async fn unlock(mut conn: PgConnection) {
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
}
