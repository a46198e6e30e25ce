//! The few calls the scenarios make, over plain HTTP.

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    admin_token: String,
}

impl Api {
    pub async fn login(base: &str, email: &str, password: &str) -> anyhow::Result<Api> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        let base = base.trim_end_matches('/').to_owned();
        let admin_token = operator_token(&client, &base, email, password).await?;
        Ok(Api {
            base,
            client,
            admin_token,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An operator call; a non-2xx answer is an error carrying its body.
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method.clone(), self.url(path))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().await?;
        let status = answer.status();
        let body: Value = answer.json().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.admin(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn admin_put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.admin(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        self.admin(reqwest::Method::GET, path, None).await
    }

    /// A venue of `sections` x `rows` x `seats` and an event in it; returns
    /// the event id and its seat ids in layout order.
    pub async fn venue_and_event(
        &self,
        name: &str,
        sections: usize,
        rows: usize,
        seats: usize,
    ) -> anyhow::Result<(i64, Vec<i64>)> {
        let layout = json!({"sections": (0..sections).map(|s| json!({
            "name": format!("{}", 100 + s),
            "rows": (0..rows).map(|r| json!({"name": format!("R{r}"), "seats": seats})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()});
        let venue = self
            .admin_post(
                "/admin/venues",
                &json!({"name": name, "city": "Benchville", "layout": layout}),
            )
            .await?;
        let event = self
            .admin_post(
                "/admin/events",
                &json!({"title": name, "venue_id": venue["venue_id"], "category": "bench",
                        "start_time": "2030-01-01T20:00:00Z", "price_cents": 100}),
            )
            .await?;
        let event_id = event["event_id"].as_i64().context("event_id")?;
        let map: Value = self
            .client
            .get(self.url(&format!("/events/{event_id}/seats")))
            .send()
            .await?
            .json()
            .await?;
        let ids = map["seats"]
            .as_array()
            .context("seats")?
            .iter()
            .filter_map(|s| s["seat_id"].as_i64())
            .collect();
        Ok((event_id, ids))
    }

    pub async fn guest(&self, n: usize) -> anyhow::Result<String> {
        let answer: Value = self
            .client
            .post(self.url("/auth/guest"))
            .json(&json!({ "email": format!("fan{n}@bench.example") }))
            .send()
            .await?
            .json()
            .await?;
        Ok(answer["token"].as_str().context("guest token")?.to_owned())
    }
}

/// Logs in as an operator at `base` and returns the bearer token.
pub async fn operator_token(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let answer = client
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .context("logging in as the operator")?;
    if !answer.status().is_success() {
        bail!(
            "operator login failed ({}); pass --admin-email/--admin-password",
            answer.status()
        );
    }
    let body: Value = answer.json().await?;
    Ok(body["token"]
        .as_str()
        .context("no token in the login answer")?
        .to_owned())
}
