//! The browser client's files through the real route table: top-level and
//! folder files are served with their content type; anything else, however
//! it is spelled, is a 404 problem.

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn the_pages_and_the_modules_in_folders_are_served() {
    let app = spawn_app().await;
    for (path, file, content_type) in [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/web/event.html", "event.html", "text/html; charset=utf-8"),
        ("/web/style.css", "style.css", "text/css; charset=utf-8"),
        (
            "/web/pages/event.js",
            "pages/event.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/web/seatmap/model.js",
            "seatmap/model.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        let on_disk = std::fs::read(format!("{}/web/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(response.bytes().await.unwrap().as_ref(), on_disk, "{path}");
    }
}

#[actix_web::test]
async fn a_file_that_is_not_in_the_client_is_a_404_problem() {
    let app = spawn_app().await;
    for path in [
        "/web/nope.js",
        "/web/seatmap/nope.js",
        "/web/%2E%2E/Cargo.toml",
        "/web/..%2FCargo.toml",
        "/web/seatmap/..%2F..%2FCargo.toml",
        "/web/%2Fetc%2Fpasswd",
        "/web/lib/%2E%2E%2Findex.html",
    ] {
        assert_problem(app.get(path).await, 404, "not_found").await;
    }
}
