//! One path, its methods: a request with a method the path does not take is
//! a 405 problem (`method_not_allowed`) whose `Allow` header lists the
//! methods it does take; a path nobody serves stays a 404.
//!
//! `endpoint("/bookings/{booking_id}").get(get).delete(release)` is an
//! actix resource whose default service answers the 405, so the `Allow`
//! list is the route table itself, never a second list kept by hand.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};

use crate::http::error::ApiError;

/// A path and the methods it takes (see the module documentation).
pub struct Endpoint {
    resource: Resource,
    allow: Vec<Method>,
}

pub fn endpoint(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        allow: Vec::new(),
    }
}

macro_rules! method {
    ($name:ident, $method:expr) => {
        pub fn $name<F, Args>(self, handler: F) -> Self
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.on($method, handler)
        }
    };
}

impl Endpoint {
    method!(get, Method::GET);
    method!(post, Method::POST);
    method!(put, Method::PUT);
    method!(patch, Method::PATCH);
    method!(delete, Method::DELETE);

    fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.allow.push(method);
        self
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = self
            .allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let allow = HeaderValue::from_str(&allow).expect("method names are valid header text");
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                let allow = allow.clone();
                async move { method_not_allowed(&req, allow) }
            }))
            .register(config)
    }
}

fn method_not_allowed(req: &HttpRequest, allow: HeaderValue) -> HttpResponse {
    use actix_web::ResponseError;
    let detail = format!(
        "{} {} is not served; this path takes {}",
        req.method(),
        req.path(),
        allow.to_str().unwrap_or_default()
    );
    let mut response = ApiError::problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        detail,
    )
    .error_response();
    response.headers_mut().insert(ALLOW, allow);
    response
}
