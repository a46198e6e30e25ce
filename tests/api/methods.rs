//! A method a path does not take is a 405 problem whose `Allow` lists the
//! methods the OpenAPI document declares for that path.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// The path with every `{parameter}` filled in with `1`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "1"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn allow(response: &reqwest::Response) -> BTreeSet<String> {
    let header = response
        .headers()
        .get("allow")
        .unwrap_or_else(|| panic!("{} has no Allow header", response.url()));
    header
        .to_str()
        .unwrap()
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect()
}

#[actix_web::test]
async fn every_path_answers_an_undeclared_method_with_405_and_its_declared_methods() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "only {} paths documented", paths.len());
    let mut checked = 0;
    for (path, operations) in paths {
        let declared: BTreeSet<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .filter(|m| METHODS.contains(&m.as_str()))
            .collect();
        assert!(!declared.is_empty(), "{path} declares no operation");
        let url = concrete(path);
        for method in METHODS.iter().filter(|m| !declared.contains(**m)) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = app.request(method.clone(), &url).send().await.unwrap();
            assert_eq!(allow(&response), declared, "Allow of {method} {url}");
            if method == Method::HEAD {
                assert_eq!(response.status(), 405, "HEAD {url}");
            } else {
                let body = assert_problem(response, 405, "method_not_allowed").await;
                let detail = body["detail"].as_str().unwrap();
                assert!(detail.contains(method.as_str()), "{detail}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 200, "only {checked} undeclared methods tried");
}

#[actix_web::test]
async fn trace_of_the_event_list_is_405_allow_get() {
    let app = spawn_app().await;
    let response = app.request(Method::TRACE, "/events").send().await.unwrap();
    assert_eq!(response.headers()["allow"], "GET");
    assert_problem(response, 405, "method_not_allowed").await;
}

#[actix_web::test]
async fn a_path_nobody_serves_stays_404_whatever_the_method() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::POST, Method::TRACE, Method::DELETE] {
        for path in ["/nope", "/events/1/nope", "/web/a/b/c"] {
            let response = app.request(method.clone(), path).send().await.unwrap();
            assert!(response.headers().get("allow").is_none(), "{method} {path}");
            assert_problem(response, 404, "not_found").await;
        }
    }
}
