//! Accounts: guests, registered buyers, operators.

use actors::model::UserId;
use sqlx::PgPool;

use crate::auth::Role;

pub struct Account {
    pub user_id: UserId,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateAccountError {
    #[error("an account with this email exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[tracing::instrument(skip_all)]
pub async fn create_guest(pool: &PgPool, email: &str) -> sqlx::Result<UserId> {
    sqlx::query_scalar("INSERT INTO users (email) VALUES ($1) RETURNING user_id")
        .bind(email)
        .fetch_one(pool)
        .await
}

#[tracing::instrument(skip_all, fields(role = role.as_str()))]
pub async fn create_account(
    pool: &PgPool,
    email: &str,
    password_hash: &str,
    role: Role,
) -> Result<UserId, CreateAccountError> {
    sqlx::query_scalar(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) RETURNING user_id",
    )
    .bind(email)
    .bind(password_hash)
    .bind(role.as_str())
    .fetch_one(pool)
    .await
    .map_err(|e| match super::violated_constraint(&e) {
        Some("users_account_email_key") => CreateAccountError::EmailTaken,
        _ => CreateAccountError::Database(e),
    })
}

#[tracing::instrument(skip_all)]
pub async fn find_account(pool: &PgPool, email: &str) -> sqlx::Result<Option<Account>> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT user_id, password_hash, role FROM users
         WHERE lower(email) = lower($1) AND password_hash IS NOT NULL",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(user_id, password_hash, role)| Account {
        user_id: UserId(user_id),
        password_hash,
        role: Role::parse(&role).unwrap_or(Role::Buyer),
    }))
}
