//! `harbor-bridge check`: what an operator needs to know before running the daemon.
//!
//! Probing (I/O) is kept apart from judging (pure), so the wording of every finding is tested
//! without servers.

use std::fmt;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

use crate::harbor::{self, ErrorKind, HarborClient, SystemInfo};

/// What the probes found.
#[derive(Debug)]
pub struct Findings {
    pub harbor_url: String,
    pub username: String,
    /// How Harbor's certificate is trusted, for the report (`system roots + /path/ca.crt`).
    pub trust: String,
    /// Building the client (CA file problems end up here).
    pub client: Result<(), String>,
    /// `GET /ping` and its round trip; `None` when the client could not be built.
    pub ping: Option<Result<Duration, harbor::Error>>,
    /// The credentials check; `None` when Harbor was not reached.
    pub credentials: Option<Result<(), harbor::Error>>,
    pub system_info: Option<Result<SystemInfo, harbor::Error>>,
    /// CRD name → installed, or why the cluster could not be asked.
    pub crds: Result<Vec<(String, bool)>, String>,
}

/// The verdict: one line per fact, one plain sentence per problem.
#[derive(Debug, Default)]
pub struct Report {
    pub facts: Vec<(&'static str, String)>,
    pub problems: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.facts.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in &self.facts {
            writeln!(f, "{key:<width$}  {value}")?;
        }
        if self.problems.is_empty() {
            writeln!(f, "\nAll checks passed.")
        } else {
            writeln!(f, "\n{} problem(s):", self.problems.len())?;
            self.problems
                .iter()
                .try_for_each(|p| writeln!(f, "  - {p}"))
        }
    }
}

impl Findings {
    /// Judges the findings. Pure.
    pub fn report(&self) -> Report {
        let mut report = Report::default();
        let url = &self.harbor_url;
        report.facts.push(("Harbor address", url.clone()));
        report.facts.push(("TLS trust", self.trust.clone()));
        if let Err(problem) = &self.client {
            report.facts.push(("Reachable", "not tried".into()));
            report.problems.push(problem.clone());
        }
        match &self.ping {
            None => {}
            Some(Ok(rtt)) => report
                .facts
                .push(("Reachable", format!("yes ({} ms)", rtt.as_millis()))),
            Some(Err(err)) => {
                report
                    .facts
                    .push(("Reachable", format!("no ({})", err.kind)));
                report.problems.push(unreachable_sentence(url, err));
            }
        }
        match &self.credentials {
            None => report.facts.push(("Credentials", "not checked".into())),
            Some(Ok(())) => report.facts.push((
                "Credentials",
                format!("accepted for user {:?}", self.username),
            )),
            Some(Err(err)) => {
                report
                    .facts
                    .push(("Credentials", format!("refused ({})", err.kind)));
                report
                    .problems
                    .push(credentials_sentence(&self.username, err));
            }
        }
        match &self.system_info {
            None => {}
            Some(Ok(info)) => {
                let version = info
                    .harbor_version
                    .clone()
                    .unwrap_or_else(|| "not reported".into());
                report.facts.push(("Harbor version", version));
                // Harbor shows `with_chartmuseum` to authenticated callers only.
                let backend = match &self.credentials {
                    Some(Ok(())) => info.chart_backend().to_string(),
                    _ => "unknown until the credentials are accepted".into(),
                };
                report.facts.push(("Chart backend", backend));
                if info.read_only == Some(true) {
                    report.problems.push(format!(
                        "Harbor at {url} is in read-only mode; the daemon cannot create or delete anything until an administrator turns it off."
                    ));
                }
            }
            Some(Err(err)) => {
                report
                    .facts
                    .push(("Harbor version", format!("unknown ({})", err.kind)));
                report.problems.push(format!(
                    "Harbor at {url} did not report its version: {err}."
                ));
            }
        }
        match &self.crds {
            Ok(crds) => {
                let installed = crds.iter().filter(|(_, ok)| *ok).count();
                report
                    .facts
                    .push(("CRDs installed", format!("{installed} of {}", crds.len())));
                for (name, _) in crds.iter().filter(|(_, ok)| !*ok) {
                    report.problems.push(format!(
                        "The CRD {name} is not installed; install them with `harbor-bridge crds | kubectl apply -f -`."
                    ));
                }
            }
            Err(reason) => {
                report.facts.push(("CRDs installed", "unknown".into()));
                report.problems.push(format!(
                    "Kubernetes could not be asked for the CRDs: {reason}."
                ));
            }
        }
        report
    }
}

fn unreachable_sentence(url: &str, err: &harbor::Error) -> String {
    match err.kind {
        ErrorKind::Untrusted => format!(
            "Harbor's certificate at {url} is not trusted ({}); set harbor.caFile to the PEM bundle of the CA that signed it.",
            err.message
        ),
        _ => format!("Harbor at {url} is unreachable: {}.", err.message),
    }
}

fn credentials_sentence(username: &str, err: &harbor::Error) -> String {
    match err.kind {
        ErrorKind::Unauthorized => format!(
            "Harbor refused the credentials of user {username:?}; check harbor.username and the password in harbor.passwordFile or HARBOR_BRIDGE_HARBOR_PASSWORD."
        ),
        _ => format!("The credentials of user {username:?} could not be checked: {err}."),
    }
}

/// Runs the probes. Never retries, so an unreachable Harbor is reported within the timeouts.
pub async fn probe(
    options: &harbor::ClientOptions,
    kube: Result<kube::Client, String>,
    crd_names: &[String],
) -> Findings {
    let mut options = options.clone();
    options.retry.max_retries = 0;
    let trust = describe_trust(&options.tls);
    let mut findings = Findings {
        harbor_url: options.url.as_str().trim_end_matches('/').to_owned(),
        username: options.username.clone(),
        trust,
        client: Ok(()),
        ping: None,
        credentials: None,
        system_info: None,
        crds: Err(String::new()),
    };
    match HarborClient::new(&options) {
        Err(err) => findings.client = Err(format!("The Harbor client cannot be built: {err}.")),
        Ok(client) => {
            let started = Instant::now();
            let ping = client.ping().await.map(|()| started.elapsed());
            let reached = ping.is_ok();
            findings.ping = Some(ping);
            if reached {
                findings.credentials = Some(client.verify_credentials().await);
                findings.system_info = Some(client.system_info().await);
            }
        }
    }
    findings.crds = match kube {
        Ok(client) => probe_crds(client, crd_names, options.request_timeout).await,
        Err(reason) => Err(reason),
    };
    findings
}

async fn probe_crds(
    client: kube::Client,
    names: &[String],
    timeout: Duration,
) -> Result<Vec<(String, bool)>, String> {
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        let lookup = tokio::time::timeout(timeout, api.get_opt(name))
            .await
            .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
            .map_err(|e| e.to_string())?;
        found.push((name.clone(), lookup.is_some()));
    }
    Ok(found)
}

fn describe_trust(tls: &harbor::TlsOptions) -> String {
    if tls.insecure_skip_verify {
        return "VERIFICATION DISABLED (insecureSkipVerify)".into();
    }
    match &tls.ca_file {
        Some(path) => format!("system roots + {}", path.display()),
        None => "system roots".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Findings {
        Findings {
            harbor_url: "https://harbor.example.com".into(),
            username: "admin".into(),
            trust: "system roots".into(),
            client: Ok(()),
            ping: Some(Ok(Duration::from_millis(3))),
            credentials: Some(Ok(())),
            system_info: Some(Ok(SystemInfo {
                harbor_version: Some("v2.7.0-6113469a".into()),
                with_chartmuseum: Some(true),
                ..SystemInfo::default()
            })),
            crds: Ok(vec![("charts.registry.tkestack.io".into(), true)]),
        }
    }

    #[test]
    fn healthy_findings_pass_and_report_version_and_backend() {
        let report = healthy().report();
        assert!(report.ok(), "{report}");
        let text = report.to_string();
        assert!(text.contains("v2.7.0-6113469a"), "{text}");
        assert!(text.contains("ChartMuseum"), "{text}");
        assert!(text.contains("1 of 1"), "{text}");
    }

    #[test]
    fn each_problem_is_one_sentence_naming_what_to_do() {
        let mut findings = healthy();
        findings.ping = Some(Err(harbor::Error::http("ping", 503, "down".into())));
        findings.credentials = None;
        findings.crds = Ok(vec![("charts.registry.tkestack.io".into(), false)]);
        let report = findings.report();
        assert_eq!(report.problems.len(), 2, "{report}");
        assert!(report.problems[0].contains("unreachable"), "{report}");
        assert!(report.problems[1].contains("kubectl apply"), "{report}");
    }

    #[test]
    fn refused_credentials_point_at_the_password_setting() {
        let mut findings = healthy();
        findings.credentials = Some(Err(harbor::Error::http(
            "verify",
            401,
            "unauthorized".into(),
        )));
        let report = findings.report();
        assert_eq!(report.problems.len(), 1);
        assert!(
            report.problems[0].contains("harbor.passwordFile"),
            "{report}"
        );
        let text = report.to_string();
        assert!(
            text.contains("unknown until the credentials are accepted"),
            "{text}"
        );
    }
}
