//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test crate uses a different subset

use std::future::Future;

use harbor_emulator::pki::TestCa;
use harbor_emulator::{Emulator, EmulatorConfig, Profile, UserAccount, pki};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, RequestBuilder, Response};
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

/// An HTTPS emulator (default config) serving a certificate `ca` issued for `hosts`.
pub async fn start_https(ca: &TestCa, hosts: &[&str]) -> Emulator {
    start_with(EmulatorConfig {
        tls: Some(ca.issue_server(hosts).unwrap()),
        ..EmulatorConfig::default()
    })
    .await
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

/// Who a request is sent as.
#[derive(Clone, Copy, Debug)]
pub enum Who {
    Admin,
    Anonymous,
    /// Basic auth with these credentials.
    User((&'static str, &'static str)),
}

/// Everything a test looks at in an HTTP response, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The parsed JSON body (Null when empty or not JSON).
    pub body: Value,
}

impl Reply {
    pub async fn read(response: Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            body,
        }
    }

    /// A header's value; panics when it is missing.
    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }

    /// The Harbor error code of the body.
    pub fn code(&self) -> &str {
        code(&self.body)
    }

    /// The Harbor error message of the body.
    pub fn message(&self) -> &str {
        message(&self.body)
    }
}

pub trait RequestExt {
    /// Sends the request (which must get an HTTP response) and reads the reply.
    fn reply(self) -> impl Future<Output = Reply>;
    /// Adds `X-Is-Resource-Name: true`.
    fn by_name(self) -> Self;
}

impl RequestExt for RequestBuilder {
    async fn reply(self) -> Reply {
        Reply::read(self.send().await.unwrap()).await
    }

    fn by_name(self) -> Self {
        self.header("x-is-resource-name", "true")
    }
}

pub struct Api {
    pub client: Client,
    pub base: String,
}

impl Api {
    pub fn new(emulator: &Emulator) -> Self {
        Self::with_client(emulator, client())
    }

    pub fn with_client(emulator: &Emulator, client: Client) -> Self {
        Self {
            client,
            base: emulator.base_url(),
        }
    }

    pub fn request(&self, who: Who, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match who {
            Who::Admin => request.basic_auth(ADMIN.0, Some(ADMIN.1)),
            Who::Anonymous => request,
            Who::User((name, password)) => request.basic_auth(name, Some(password)),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Who::Anonymous, Method::GET, path)
    }

    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(Who::Admin, method, path)
    }

    /// Sends a request without a body and reads the reply. The request is built at
    /// once, so the future borrows nothing.
    pub fn call(
        &self,
        who: Who,
        method: Method,
        path: &str,
    ) -> impl Future<Output = Reply> + use<> {
        self.request(who, method, path).reply()
    }

    /// Like [`Api::call`], with `X-Is-Resource-Name: true`.
    pub fn call_by_name(
        &self,
        who: Who,
        method: Method,
        path: &str,
    ) -> impl Future<Output = Reply> + use<> {
        self.request(who, method, path).by_name().reply()
    }

    /// Sends a request without a body; only the status.
    pub fn status(
        &self,
        who: Who,
        method: Method,
        path: &str,
    ) -> impl Future<Output = u16> + use<> {
        let reply = self.call(who, method, path);
        async move { reply.await.status }
    }

    /// Sends `body` as JSON and reads the reply.
    pub fn send_json(
        &self,
        who: Who,
        method: Method,
        path: &str,
        body: &Value,
    ) -> impl Future<Output = Reply> + use<> {
        self.request(who, method, path).json(body).reply()
    }

    /// Creates a project through the API as admin; returns the Location header.
    pub async fn create_project(&self, name: &str, public: bool) -> String {
        let body =
            serde_json::json!({"project_name": name, "metadata": {"public": public.to_string()}});
        let reply = self
            .send_json(Who::Admin, Method::POST, "/api/v2.0/projects", &body)
            .await;
        assert_eq!(reply.status, 201, "create {name}");
        reply.header("location").to_owned()
    }
}

/// The Harbor error code of a response body.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

pub fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

/// The string `key` of every element of a JSON array, in order.
pub fn pluck(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}
