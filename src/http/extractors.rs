//! Request extractors: the bearer token (header or cookie) turned into the
//! caller a handler acts for, with the role it needs.

use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::auth::{COOKIE_NAME, Caller, Role, Signer};
use crate::http::error::ApiError;

fn bearer_token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(token.trim().to_owned());
    }
    req.cookie(COOKIE_NAME).map(|c| c.value().to_owned())
}

/// Whoever the token names, whatever their role.
fn authenticated(req: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(signer) = req.app_data::<web::Data<Signer>>() else {
        return Err(ApiError::Internal(anyhow::anyhow!("Signer not registered")));
    };
    match bearer_token(req) {
        None => Err(ApiError::unauthorized("a bearer token is required")),
        Some(token) => signer
            .verify(&token)
            .ok_or_else(|| ApiError::unauthorized("the token is invalid or expired")),
    }
}

/// A buyer or an operator; 401 without a token. Door staff are refused
/// (403): their accounts only check tickets in ([`DoorStaff`]).
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticated(req).and_then(|caller| {
            if caller.role == Role::Door {
                Err(ApiError::forbidden(
                    "a door-staff account can only check tickets in",
                ))
            } else {
                Ok(caller)
            }
        }))
    }
}

/// A caller who may check tickets in: door staff or an admin; 401 without a
/// token, 403 for anyone else.
#[derive(Debug, Clone, Copy)]
pub struct DoorStaff(pub Caller);

impl FromRequest for DoorStaff {
    type Error = ApiError;
    type Future = Ready<Result<DoorStaff, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticated(req).and_then(|caller| match caller.role {
            Role::Door | Role::Admin => Ok(DoorStaff(caller)),
            Role::Buyer => Err(ApiError::forbidden("the door or admin role is required")),
        }))
    }
}

/// A caller with the admin role; 401 without a token, 403 without the role.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Admin, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = match Caller::from_request(req, payload).into_inner() {
            Ok(caller) => caller,
            Err(e) => return ready(Err(e)),
        };
        ready(if caller.is_admin() {
            Ok(Admin(caller))
        } else {
            Err(ApiError::forbidden("the admin role is required"))
        })
    }
}
