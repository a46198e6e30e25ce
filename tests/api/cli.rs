//! The command line: configuration errors, the production secret guard and
//! `admin create`, through the real binary.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

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

/// The binary as a deployment runs it: no `BOXOFFICE_ENV` (the test runner's
/// `test` removed). Killed if it has not exited by the deadline; the output
/// says whether it had.
fn boxoffice_in_production(
    args: &[&str],
    env: &[(&str, &str)],
    deadline: Duration,
) -> (Option<Output>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BOXOFFICE_ENV")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("run boxoffice");
    let started = Instant::now();
    while started.elapsed() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let output = child.wait_with_output().expect("output");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return (Some(output), stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    (None, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn without_boxoffice_env_the_development_secret_signs_nothing() {
    // Production is the default: the published secret stops the server (and
    // every other command) before it can sign a token.
    for args in [
        vec!["serve"],
        vec![
            "admin",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "a long operator password",
        ],
    ] {
        let (output, stderr) = boxoffice_in_production(
            &args,
            &[("BOXOFFICE__SERVER__PORT", "0")],
            Duration::from_secs(20),
        );
        let output = output
            .unwrap_or_else(|| panic!("{args:?} started with the development secret: {stderr}"));
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr.contains("BOXOFFICE__AUTH__SIGNING_SECRET"),
            "{args:?}: {stderr}"
        );
    }
}

#[actix_web::test]
async fn a_production_node_needs_only_its_signing_secret_besides_the_urls() {
    let app = spawn_app().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (database, redis) = (app.database_url(), app.redis_url().to_owned());
    let env = [
        ("BOXOFFICE__DATABASE__URL", database.as_str()),
        ("BOXOFFICE__REDIS__URL", redis.as_str()),
        ("BOXOFFICE__REDIS__KEY_PREFIX", app.redis_prefix.as_str()),
        (
            "BOXOFFICE__AUTH__SIGNING_SECRET",
            "a-production-secret-of-at-least-32-characters",
        ),
        ("BOXOFFICE__SERVER__PORT", &port.to_string()),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let server = std::thread::spawn(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        boxoffice_in_production(&["serve"], &env, Duration::from_secs(15))
    });
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + Duration::from_secs(12);
    let ready = loop {
        if let Ok(response) = reqwest::get(&url).await {
            break response.status() == 200;
        }
        if Instant::now() > deadline || server.is_finished() {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (exited, stderr) = server.join().unwrap();
    assert!(ready, "the production node never became ready: {stderr}");
    assert!(exited.is_none(), "it kept serving until stopped: {stderr}");
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
    assert!(
        stderr.contains("BOXOFFICE__AUTH__SIGNING_SECRET"),
        "{stderr}"
    );
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

/// `boxoffice admin create [extra…] --email EMAIL --password PASSWORD`
/// against the test's database.
fn admin_create(app: &TestApp, extra: &[&str], email: &str, password: &str) -> Output {
    let mut args = vec!["admin", "create"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--email", email, "--password", password]);
    boxoffice(&args, &[("BOXOFFICE__DATABASE__URL", &app.database_url())])
}

/// Runs [`admin_create`], asserts it succeeded and logs the new account
/// in; the session.
async fn created_and_logged_in(
    app: &TestApp,
    extra: &[&str],
    email: &str,
    password: &str,
) -> Value {
    let output = admin_create(app, extra, email, password);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    app.login(email, password).await.json().await.unwrap()
}

#[actix_web::test]
async fn admin_create_makes_an_operator_who_can_log_in() {
    let app = spawn_app().await;
    let (email, password) = ("ops@example.com", "a long operator password");
    let session = created_and_logged_in(&app, &[], email, password).await;
    assert_eq!(session["role"], "admin");

    let again = admin_create(&app, &[], email, password);
    assert!(
        !again.status.success(),
        "a second account with the same email"
    );
    let weak = admin_create(&app, &[], "weak@example.com", "short");
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

#[actix_web::test]
async fn admin_create_with_the_door_role_makes_door_staff() {
    let app = spawn_app().await;
    let (email, password) = ("door@example.com", "a long door-staff password");
    let session = created_and_logged_in(&app, &["--role", "door"], email, password).await;
    assert_eq!(session["role"], "door");
}

#[actix_web::test]
async fn trusted_proxies_come_as_a_comma_separated_variable_and_nonsense_is_refused() {
    let app = spawn_app().await;
    let url = app.database_url();
    let listed = boxoffice(
        &["migrate"],
        &[
            ("BOXOFFICE__DATABASE__URL", &url),
            (
                "BOXOFFICE__LIMITS__TRUSTED_PROXIES",
                "10.0.0.1, 10.1.0.0/16,::1",
            ),
        ],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let nonsense = boxoffice(
        &["migrate"],
        &[
            ("BOXOFFICE__DATABASE__URL", &url),
            ("BOXOFFICE__LIMITS__TRUSTED_PROXIES", "10.0.0.1,nginx"),
        ],
    );
    assert!(!nonsense.status.success());
    let stderr = String::from_utf8_lossy(&nonsense.stderr);
    assert!(stderr.contains("limits.trusted_proxies"), "{stderr}");
}

#[actix_web::test]
async fn cors_origins_come_as_a_comma_separated_variable_and_non_origins_are_refused() {
    let app = spawn_app().await;
    let url = app.database_url();
    let listed = boxoffice(
        &["migrate"],
        &[
            ("BOXOFFICE__DATABASE__URL", &url),
            (
                "BOXOFFICE__SERVER__CORS_ORIGINS",
                "https://tickets.example.com, http://localhost:3000",
            ),
        ],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    for nonsense in [
        "*",
        "https://tickets.example.com/shop",
        "tickets.example.com",
    ] {
        let refused = boxoffice(
            &["migrate"],
            &[
                ("BOXOFFICE__DATABASE__URL", &url),
                ("BOXOFFICE__SERVER__CORS_ORIGINS", nonsense),
            ],
        );
        assert!(!refused.status.success(), "{nonsense} was accepted");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("server.cors_origins"), "{stderr}");
    }
}
