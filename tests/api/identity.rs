use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn a_guest_gets_a_user_id_a_token_and_an_http_only_cookie() {
    let app = spawn_app().await;
    let response = app.guest("fan@example.com").await;
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("boxoffice_token=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["user_id"].as_i64().unwrap() > 0);
    assert!(!body["token"].as_str().unwrap().is_empty());
}

#[actix_web::test]
async fn two_guest_checkouts_with_one_email_are_separate_identities() {
    let app = spawn_app().await;
    let a: Value = app.guest("same@example.com").await.json().await.unwrap();
    let b: Value = app.guest("same@example.com").await.json().await.unwrap();
    assert_ne!(a["user_id"], b["user_id"]);
}

#[actix_web::test]
async fn signup_then_login_returns_the_same_user() {
    let app = spawn_app().await;
    let signed_up = app.signup("Ana@Example.com", "s3cret-password").await;
    assert_eq!(signed_up.status(), 201);
    let signed_up: Value = signed_up.json().await.unwrap();
    let logged_in = app.login("ana@example.com", "s3cret-password").await;
    assert_eq!(logged_in.status(), 200);
    let logged_in: Value = logged_in.json().await.unwrap();
    assert_eq!(signed_up["user_id"], logged_in["user_id"]);
}

#[actix_web::test]
async fn a_second_signup_with_the_same_email_is_a_conflict() {
    let app = spawn_app().await;
    app.signup("ana@example.com", "s3cret-password").await;
    assert_problem(
        app.signup("ANA@example.com", "other-password").await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(app.count("users").await, 1);
}

#[actix_web::test]
async fn a_wrong_password_or_unknown_email_is_refused_alike() {
    let app = spawn_app().await;
    app.signup("ana@example.com", "s3cret-password").await;
    assert_problem(
        app.login("ana@example.com", "wrong-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        app.login("nobody@example.com", "s3cret-password").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[actix_web::test]
async fn admin_endpoints_need_a_token_and_the_admin_role() {
    let app = spawn_app().await;
    let body = json!({"name": "Hall", "city": "Oslo", "layout": crate::helpers::layout(1, 1, 1)});
    assert_problem(
        app.post_json("/admin/venues", None, &body).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.post_json("/admin/venues", Some("garbage.token"), &body)
            .await,
        401,
        "unauthorized",
    )
    .await;
    let buyer = app.buyer_token().await;
    assert_problem(
        app.post_json("/admin/venues", Some(&buyer), &body).await,
        403,
        "forbidden",
    )
    .await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.post_json("/admin/venues", Some(&admin), &body)
            .await
            .status(),
        201
    );
    assert_eq!(app.count("venues").await, 1);
}

#[actix_web::test]
async fn the_token_cookie_authenticates_like_the_header() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let body = json!({"name": "Hall", "city": "Oslo", "layout": crate::helpers::layout(1, 1, 1)});
    let response = app
        .request(reqwest::Method::POST, "/admin/venues")
        .header("Cookie", format!("boxoffice_token={admin}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}
