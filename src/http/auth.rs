//! `POST /auth/guest`, `/auth/signup`, `/auth/login`.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use actors::model::UserId;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::auth::{self, COOKIE_NAME, Role, Signer};
use crate::http::api_doc::Problem;
use crate::http::client_addr::{ClientAddr, TrustedProxies};
use crate::http::error::ApiError;
use crate::http::hashing::PasswordHashing;
use crate::http::limits::{Action, Limits};
use crate::store::users::{self, CreateAccountError};

/// An email address as `auth::parse_email` accepts it.
pub fn email_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(254))
        .pattern(Some(auth::EMAIL_PATTERN))
        .description(Some(
            "No whitespace or control characters, a non-empty local part, `@`, \
             a domain with a dot inside it; sent exactly (no trimming).",
        ))
        .build()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestRequest {
    #[schema(schema_with = email_schema)]
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    #[schema(schema_with = email_schema)]
    email: String,
    /// 8 to 128 characters.
    #[schema(value_type = String, min_length = 8, max_length = 128, format = Password)]
    password: SecretString,
}

/// A signed-in session. The same token is set as an `HttpOnly` cookie.
#[derive(Serialize, ToSchema)]
struct Session {
    user_id: UserId,
    token: String,
    role: Role,
}

fn parse_email(raw: &str) -> Result<String, ApiError> {
    auth::parse_email(raw).ok_or_else(|| ApiError::validation("email is not a valid address"))
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

/// The session: the token in the body and in an `HttpOnly` cookie, which is
/// `Secure` when the request came over HTTPS (directly, or through a trusted
/// proxy saying `X-Forwarded-Proto: https`) so the browser never sends it in
/// the clear.
/// 201 with the session of a buyer account just made (guest or signup).
fn new_buyer_session(req: &HttpRequest, signer: &Signer, user_id: UserId) -> HttpResponse {
    session_response(req, StatusCode::CREATED, signer, user_id, Role::Buyer)
}

fn session_response(
    req: &HttpRequest,
    status: StatusCode,
    signer: &Signer,
    user_id: UserId,
    role: Role,
) -> HttpResponse {
    let token = signer.issue(user_id, role);
    let https = req
        .app_data::<web::Data<TrustedProxies>>()
        .is_some_and(|trusted| trusted.is_https(req))
        || req.app_config().secure();
    let cookie = Cookie::build(COOKIE_NAME, token.clone())
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(signer.ttl().as_secs() as i64))
        .finish();
    HttpResponse::build(status).cookie(cookie).json(Session {
        user_id,
        token,
        role,
    })
}

/// Create a guest buyer: a session without a password.
#[utoipa::path(
    post, path = "/auth/guest", tag = "identity",
    request_body = GuestRequest,
    responses(
        (status = 201, description = "The guest's session", body = Session),
        (status = 400, description = "`validation_failed`: not an email address; malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: over this client address's limit; `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn guest(
    req: HttpRequest,
    client: ClientAddr,
    limits: web::Data<Limits>,
    pool: web::Data<PgPool>,
    signer: web::Data<Signer>,
    body: web::Json<GuestRequest>,
) -> Result<HttpResponse, ApiError> {
    limits.check(Action::Guest, client)?;
    let email = parse_email(&body.email)?;
    let user_id = users::create_guest(&pool, &email).await?;
    tracing::info!(user.id = %user_id, "guest created");
    Ok(new_buyer_session(&req, &signer, user_id))
}

/// Create a buyer account.
#[utoipa::path(
    post, path = "/auth/signup", tag = "identity",
    request_body = CredentialsRequest,
    responses(
        (status = 201, description = "The new buyer's session", body = Session),
        (status = 400, description = "`validation_failed`: bad email or password length; malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: over this client address's limit; `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: every password-hashing slot is busy; `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn signup(
    req: HttpRequest,
    client: ClientAddr,
    limits: web::Data<Limits>,
    hashing: web::Data<PasswordHashing>,
    pool: web::Data<PgPool>,
    signer: web::Data<Signer>,
    body: web::Json<CredentialsRequest>,
) -> Result<HttpResponse, ApiError> {
    limits.check(Action::Signup, client)?;
    let CredentialsRequest { email, password } = body.into_inner();
    let email = parse_email(&email)?;
    parse_password(&password)?;
    let hash = hashing
        .run(move || auth::hash_password(&password))
        .await??;
    let user_id = users::create_account(&pool, &email, &hash, Role::Buyer)
        .await
        .map_err(|e| match e {
            CreateAccountError::EmailTaken => {
                ApiError::conflict("email_taken", "an account with this email exists")
            }
            CreateAccountError::Database(e) => e.into(),
        })?;
    tracing::info!(user.id = %user_id, "account created");
    Ok(new_buyer_session(&req, &signer, user_id))
}

/// Sign in with email and password.
#[utoipa::path(
    post, path = "/auth/login", tag = "identity",
    request_body = CredentialsRequest,
    responses(
        (status = 200, description = "The account's session", body = Session),
        (status = 400, description = "`validation_failed`: malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: over this address's or this account's limit; `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`service_unavailable`: retry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    req: HttpRequest,
    client: ClientAddr,
    limits: web::Data<Limits>,
    hashing: web::Data<PasswordHashing>,
    pool: web::Data<PgPool>,
    signer: web::Data<Signer>,
    body: web::Json<CredentialsRequest>,
) -> Result<HttpResponse, ApiError> {
    limits.check(Action::Login, client)?;
    let CredentialsRequest { email, password } = body.into_inner();
    // Before any hashing: a locked account costs no argon2 work.
    limits.check_account(&email)?;
    // An address that could not be an account's is nobody's.
    let account = match auth::parse_email(&email) {
        Some(email) => users::find_account(&pool, &email).await?,
        None => None,
    };
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let matches = hashing
        .run(move || {
            let hash = hash.as_deref().unwrap_or_else(|| auth::dummy_hash());
            auth::verify_password(&password, hash)
        })
        .await?;
    match account {
        Some(account) if matches => {
            tracing::info!(user.id = %account.user_id, "logged in");
            Ok(session_response(
                &req,
                StatusCode::OK,
                &signer,
                account.user_id,
                account.role,
            ))
        }
        _ => {
            // Unknown accounts count too: the answer must not tell them apart.
            limits.login_failed(&email)?;
            Err(ApiError::problem(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
                "the email or password is wrong",
            ))
        }
    }
}
