//! `POST /auth/guest`, `/auth/signup`, `/auth/login`.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use actors::domain::UserId;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::auth::{self, COOKIE_NAME, Role, Signer};
use crate::http::error::ApiError;
use crate::store::users::{self, CreateAccountError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    email: String,
    password: SecretString,
}

#[derive(Serialize)]
struct Session {
    user_id: UserId,
    token: String,
    role: Role,
}

/// A syntactically plausible address; delivery is what really validates it.
pub fn parse_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(ApiError::validation("email is not a valid address"))
    }
}

fn parse_password(password: &SecretString) -> Result<(), ApiError> {
    use secrecy::ExposeSecret;
    let length = password.expose_secret().chars().count();
    if (8..=128).contains(&length) {
        Ok(())
    } else {
        Err(ApiError::validation(
            "password must be between 8 and 128 characters",
        ))
    }
}

fn session_response(
    status: StatusCode,
    signer: &Signer,
    user_id: UserId,
    role: Role,
) -> HttpResponse {
    let token = signer.issue(user_id, role);
    let cookie = Cookie::build(COOKIE_NAME, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(signer.ttl().as_secs() as i64))
        .finish();
    HttpResponse::build(status).cookie(cookie).json(Session {
        user_id,
        token,
        role,
    })
}

#[tracing::instrument(skip_all)]
pub async fn guest(
    pool: web::Data<PgPool>,
    signer: web::Data<Signer>,
    body: web::Json<GuestRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = parse_email(&body.email)?;
    let user_id = users::create_guest(&pool, &email).await?;
    tracing::info!(user.id = %user_id, "guest created");
    Ok(session_response(
        StatusCode::CREATED,
        &signer,
        user_id,
        Role::Buyer,
    ))
}

#[tracing::instrument(skip_all)]
pub async fn signup(
    pool: web::Data<PgPool>,
    signer: web::Data<Signer>,
    body: web::Json<CredentialsRequest>,
) -> Result<HttpResponse, ApiError> {
    let CredentialsRequest { email, password } = body.into_inner();
    let email = parse_email(&email)?;
    parse_password(&password)?;
    let hash = web::block(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.into()))??;
    let user_id = users::create_account(&pool, &email, &hash, Role::Buyer)
        .await
        .map_err(|e| match e {
            CreateAccountError::EmailTaken => {
                ApiError::conflict("email_taken", "an account with this email exists")
            }
            CreateAccountError::Database(e) => e.into(),
        })?;
    tracing::info!(user.id = %user_id, "account created");
    Ok(session_response(
        StatusCode::CREATED,
        &signer,
        user_id,
        Role::Buyer,
    ))
}

#[tracing::instrument(skip_all)]
pub async fn login(
    pool: web::Data<PgPool>,
    signer: web::Data<Signer>,
    body: web::Json<CredentialsRequest>,
) -> Result<HttpResponse, ApiError> {
    let CredentialsRequest { email, password } = body.into_inner();
    let account = users::find_account(&pool, email.trim()).await?;
    let hash = account.as_ref().map_or_else(
        || auth::dummy_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let matches = web::block(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    match account {
        Some(account) if matches => {
            tracing::info!(user.id = %account.user_id, "logged in");
            Ok(session_response(
                StatusCode::OK,
                &signer,
                account.user_id,
                account.role,
            ))
        }
        _ => Err(ApiError::problem(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
            "the email or password is wrong",
        )),
    }
}
