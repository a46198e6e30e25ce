//! The command line: configuration errors, the production secret guard and
//! `admin create`, through the real binary.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::spawn_app;

fn boxoffice(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run boxoffice")
}

#[test]
fn an_invalid_setting_is_refused_with_a_message_naming_its_key() {
    let output = boxoffice(&["migrate"], &[("BOXOFFICE__SERVER__PORT", "eighty")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.port"), "{stderr}");
}

#[test]
fn production_refuses_the_development_signing_secret() {
    let output = boxoffice(&["migrate"], &[("BOXOFFICE_ENV", "production")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.signing_secret"), "{stderr}");
}

#[test]
fn every_command_documents_itself() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["admin", "create", "--help"],
        vec!["demo", "--help"],
    ] {
        let output = boxoffice(&args, &[]);
        assert!(output.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[actix_web::test]
async fn admin_create_makes_an_operator_who_can_log_in() {
    let app = spawn_app().await;
    let url = app.database_url();
    let output = boxoffice(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "a long operator password",
        ],
        &[("BOXOFFICE__DATABASE__URL", &url)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let session: Value = app
        .login("ops@example.com", "a long operator password")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(session["role"], "admin");

    let again = boxoffice(
        &[
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "a long operator password",
        ],
        &[("BOXOFFICE__DATABASE__URL", &url)],
    );
    assert!(
        !again.status.success(),
        "a second account with the same email"
    );
    let weak = boxoffice(
        &[
            "admin",
            "create",
            "--email",
            "weak@example.com",
            "--password",
            "short",
        ],
        &[("BOXOFFICE__DATABASE__URL", &url)],
    );
    assert!(!weak.status.success(), "a weak operator password");
}

#[actix_web::test]
async fn demo_data_loads_once_with_an_arena_of_at_least_20000_seats() {
    let app = spawn_app().await;
    let url = app.database_url();
    for _ in 0..2 {
        let output = boxoffice(&["demo"], &[("BOXOFFICE__DATABASE__URL", &url)]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let largest: i32 = sqlx::query_scalar("SELECT max(seat_count) FROM venues")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(largest >= 20_000, "{largest}");
    assert_eq!(
        app.count("venues").await,
        2,
        "loading twice created duplicates"
    );
    let page: Value = app.get("/events").await.json().await.unwrap();
    assert!(page["events"].as_array().unwrap().len() >= 3);
}
