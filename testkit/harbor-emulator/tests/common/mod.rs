//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses a different subset

use harbor_emulator::{Emulator, EmulatorConfig, Profile, UserAccount, pki};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;

pub const ADMIN: (&str, &str) = ("admin", "Harbor12345");
pub const DEV: (&str, &str) = ("dev", "devpass");

pub async fn start(profile: Profile) -> Emulator {
    start_with(EmulatorConfig {
        profile,
        user: Some(UserAccount::new(DEV.0, DEV.1)),
        ..EmulatorConfig::default()
    })
    .await
}

pub async fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config).await.expect("emulator starts")
}

/// A stateless client (no cookie jar) trusting only the given CAs.
pub fn client_trusting(ca_pems: &[&str]) -> Client {
    let tls = pki::client_config(ca_pems.iter().copied()).expect("client tls");
    Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .expect("client")
}

pub fn client() -> Client {
    client_trusting(&[])
}

pub struct Api {
    pub client: Client,
    pub base: String,
}

impl Api {
    pub fn new(emulator: &Emulator) -> Self {
        Self {
            client: client(),
            base: emulator.base_url(),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
    }

    pub fn as_user(
        &self,
        method: reqwest::Method,
        path: &str,
        who: (&str, &str),
    ) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(who.0, Some(who.1))
    }

    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Creates a project through the API as admin; returns the Location header.
    pub async fn create_project(&self, name: &str, public: bool) -> String {
        let body =
            serde_json::json!({"project_name": name, "metadata": {"public": public.to_string()}});
        let response = self
            .admin(reqwest::Method::POST, "/api/v2.0/projects")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create {name}");
        response.headers()["location"].to_str().unwrap().to_owned()
    }
}

/// Status plus parsed JSON body (Null when empty or not JSON).
pub async fn parts(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The Harbor error code of a response body.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

pub fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}
