//! Harbor's REST behaviour over real HTTP.

mod common;

use common::Who::{Admin, Anonymous, User};
use common::{Api, DEV, RequestExt, pluck, start, start_with};
use harbor_emulator::{CreationRestriction, EmulatorConfig, Profile, UserAccount};
use reqwest::Method;
use serde_json::{Value, json};

const PROJECTS: &str = "/api/v2.0/projects";

#[tokio::test]
async fn every_response_has_request_id_and_sid_cookie_and_errors_have_harbor_shape() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let reply = api
        .call(Admin, Method::GET, "/api/v2.0/projects/nope")
        .await;
    assert!(!reply.headers["x-request-id"].is_empty());
    let cookie = reply.header("set-cookie");
    assert!(
        cookie.starts_with("sid=") && cookie.ends_with("; Path=/; HttpOnly"),
        "{cookie}"
    );
    assert_eq!(
        reply.header("content-type"),
        "application/json; charset=utf-8"
    );
    assert_eq!(
        reply.text,
        "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"project nope not found\"}]}\n"
    );

    // A client-chosen request id is echoed.
    let reply = api
        .get("/api/v2.0/ping")
        .header("x-request-id", "mine")
        .reply()
        .await;
    assert_eq!(reply.header("x-request-id"), "mine");
}

#[tokio::test]
async fn sid_cookie_makes_unsafe_methods_fail_csrf() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let reply = api
        .admin(Method::POST, PROJECTS)
        .header("cookie", "sid=made-up")
        .json(&json!({"project_name": "p1"}))
        .reply()
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), "FORBIDDEN");
    assert_eq!(reply.message(), "CSRF token invalid");
    assert!(emu.project("p1").is_none(), "nothing was created");
    // A GET with the cookie is fine.
    let reply = api
        .admin(Method::GET, PROJECTS)
        .header("cookie", "sid=x")
        .reply()
        .await;
    assert_eq!(reply.status, 200);
    assert!(emu.calls().iter().any(|c| c.had_cookie));
}

#[tokio::test]
async fn anonymous_versus_admin() {
    let emu = start(Profile::Harbor28).await;
    emu.create_project("open", true);
    emu.create_project("closed", false);
    let api = Api::new(&emu);

    // Wrong password = anonymous: public projects only.
    let list = api
        .call(User(("admin", "wrong")), Method::GET, PROJECTS)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(pluck(&list.body, "name"), ["library", "open"]);

    let open = "/api/v2.0/projects/open";
    let reply = api.call_by_name(Anonymous, Method::GET, open).await;
    assert_eq!(reply.status, 200);
    for path in ["/api/v2.0/projects/closed", "/api/v2.0/projects/missing"] {
        let reply = api.call(Anonymous, Method::GET, path).await;
        assert_eq!(
            (reply.status, reply.code()),
            (401, "UNAUTHORIZED"),
            "{path}"
        );
    }
    let reply = api
        .send_json(
            Anonymous,
            Method::POST,
            PROJECTS,
            &json!({"project_name": "x"}),
        )
        .await;
    assert_eq!((reply.status, reply.message()), (401, "unauthorized"));
    for (method, path) in [
        (Method::DELETE, "/api/v2.0/projects/open"),
        (Method::HEAD, "/api/v2.0/projects?project_name=open"),
        (Method::GET, "/api/v2.0/users/current/permissions"),
    ] {
        let status = api.status(Anonymous, method.clone(), path).await;
        assert_eq!(status, 401, "{method} {path}");
    }

    let perms = api
        .call(Admin, Method::GET, "/api/v2.0/users/current/permissions")
        .await;
    assert_eq!(perms.status, 200);
    assert!(perms.body.is_array());

    // Admin sees everything.
    let list = api.call(Admin, Method::GET, PROJECTS).await;
    assert_eq!(list.body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn non_admin_user_gets_403_and_creation_restriction() {
    let emu = start_with(EmulatorConfig {
        user: Some(UserAccount::new(DEV.0, DEV.1)),
        project_creation_restriction: CreationRestriction::AdminOnly,
        ..EmulatorConfig::default()
    })
    .await;
    emu.create_project("closed", false);
    let api = Api::new(&emu);
    for path in ["/api/v2.0/projects/missing", "/api/v2.0/projects/closed"] {
        let reply = api.call(User(DEV), Method::GET, path).await;
        assert_eq!((reply.status, reply.code()), (403, "FORBIDDEN"), "{path}");
    }
    let mine = json!({"project_name": "mine"});
    let reply = api
        .send_json(User(DEV), Method::POST, PROJECTS, &mine)
        .await;
    assert_eq!(reply.status, 403);

    // With the default restriction the user may create, and owns, projects.
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let reply = api
        .send_json(User(DEV), Method::POST, PROJECTS, &mine)
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(emu.project("mine").unwrap().owner_name, "dev");
    let mine = "/api/v2.0/projects/mine";
    let reply = api.call_by_name(User(DEV), Method::DELETE, mine).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn create_project_validation_and_location() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let post = |body: Value| api.send_json(Admin, Method::POST, PROJECTS, &body);

    let reply = post(json!({"project_name": "alpha", "metadata": {"public": "true"}})).await;
    assert_eq!(reply.status, 201);
    let id = emu.project("alpha").unwrap().id;
    assert_eq!(reply.header("location"), format!("/api/v2.0/projects/{id}"));
    assert!(reply.text.is_empty());

    let reply = api
        .admin(Method::POST, PROJECTS)
        .header("x-resource-name-in-location", "true")
        .json(&json!({"project_name": "beta"}))
        .reply()
        .await;
    assert_eq!(reply.header("location"), "/api/v2.0/projects/beta");
    assert_eq!(emu.project("beta").unwrap().metadata["public"], "false");

    let reply = post(json!({"project_name": "alpha"})).await;
    assert_eq!(
        (reply.status, reply.code(), reply.message()),
        (409, "CONFLICT", "The project named alpha already exists")
    );

    let cases = [
        (json!({"project_name": "Bad_Name"}), 400),
        (json!({"project_name": "a--b"}), 400),
        (json!({"project_name": ""}), 400),
        (
            json!({"project_name": "ok1", "metadata": {"public": "yes"}}),
            400,
        ),
        (
            json!({"project_name": "ok2", "metadata": {"public": true}}),
            422,
        ),
        (json!({"project_name": "x".repeat(256)}), 422),
    ];
    for (body, want) in cases {
        let reply = post(body.clone()).await;
        assert_eq!(reply.status, want, "{body}: {}", reply.body);
    }
    let reply = post(json!({"project_name": "Bad"})).await;
    assert_eq!(
        reply.message(),
        "project name is not in lower case or contains illegal characters"
    );
    let reply = post(json!({"project_name": "ok2", "metadata": {"public": true}})).await;
    assert_eq!(reply.code(), "UNPROCESSABLE_ENTITY");
    assert!(reply.message().starts_with("validation failure list:"));

    let reply = api
        .admin(Method::POST, PROJECTS)
        .header("content-type", "application/json")
        .body("{not json")
        .reply()
        .await;
    assert_eq!(reply.status, 422);
}

#[tokio::test]
async fn get_by_name_or_id_and_head() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    let id = emu.create_project("123", false);
    let other = emu.create_project("named", true);
    let by_id = format!("/api/v2.0/projects/{other}");

    let reply = api.call(Admin, Method::GET, &by_id).await;
    assert_eq!(
        (reply.status, reply.body["name"].as_str()),
        (200, Some("named"))
    );
    // All-digit names are ids unless X-Is-Resource-Name says otherwise.
    let numeric = "/api/v2.0/projects/123";
    assert_eq!(api.status(Admin, Method::GET, numeric).await, 404);
    let reply = api.call_by_name(Admin, Method::GET, numeric).await;
    assert_eq!(
        (reply.status, reply.body["project_id"].as_i64()),
        (200, Some(id))
    );
    let body = reply.body;
    assert_eq!(
        api.call_by_name(Admin, Method::GET, &by_id).await.status,
        404,
        "a numeric id is a name with X-Is-Resource-Name"
    );

    // Field shapes: metadata.public is a string; Harbor28 has no chart_count.
    assert_eq!(body["metadata"]["public"], "false");
    for field in [
        "owner_id",
        "owner_name",
        "creation_time",
        "update_time",
        "deleted",
        "repo_count",
        "cve_allowlist",
    ] {
        assert!(body.get(field).is_some(), "{field}");
    }
    assert!(body.get("chart_count").is_none());

    let head = |name: &str| {
        api.status(
            Admin,
            Method::HEAD,
            &format!("/api/v2.0/projects?project_name={name}"),
        )
    };
    assert_eq!(head("named").await, 200);
    assert_eq!(head("name").await, 404, "exact match only");
}

#[tokio::test]
async fn list_filters() {
    let emu = start(Profile::Harbor28).await;
    for name in ["team-a", "team-b", "other"] {
        emu.create_project(name, name != "other");
    }
    let api = Api::new(&emu);
    let cases: [(&str, &[&str]); 5] = [
        ("name=team", &["team-a", "team-b"]),
        ("q=name%3Dteam-a", &["team-a"]),
        ("q=name%3Dteam", &[]),
        ("q=name%3D~eam", &["team-a", "team-b"]),
        ("public=false", &["other"]),
    ];
    for (query, want) in cases {
        let reply = api
            .call(Admin, Method::GET, &format!("{PROJECTS}?{query}"))
            .await;
        assert_eq!(pluck(&reply.body, "name"), want, "{query}");
    }
}

#[tokio::test]
async fn pagination_headers_over_250_projects() {
    let emu = start_with(EmulatorConfig {
        library_project: false,
        ..EmulatorConfig::default()
    })
    .await;
    for i in 0..250 {
        emu.create_project(&format!("p{i:03}"), false);
    }
    let api = Api::new(&emu);
    let page = |query: &str| api.call(Admin, Method::GET, &format!("{PROJECTS}?{query}"));

    let reply = api.call(Admin, Method::GET, PROJECTS).await;
    assert_eq!(reply.header("x-total-count"), "250");
    assert_eq!(
        reply.header("link"),
        "</api/v2.0/projects?page=2&page_size=10>; rel=\"next\""
    );
    assert_eq!(
        reply.body.as_array().unwrap().len(),
        10,
        "default page size 10"
    );

    let reply = page("page_size=100&page=2").await;
    assert_eq!(
        reply.header("link"),
        "</api/v2.0/projects?page=1&page_size=100>; rel=\"prev\" , </api/v2.0/projects?page=3&page_size=100>; rel=\"next\""
    );
    assert_eq!(reply.body[0]["name"], "p100");

    let reply = page("page_size=100&page=3").await;
    assert_eq!(
        reply.header("link"),
        "</api/v2.0/projects?page=2&page_size=100>; rel=\"prev\""
    );
    assert_eq!(reply.body.as_array().unwrap().len(), 50);

    let mut all = Vec::new();
    for number in 1..=3 {
        let reply = page(&format!("page_size=100&page={number}")).await;
        all.extend(pluck(&reply.body, "name"));
    }
    assert_eq!(all.len(), 250);

    for bad in ["page_size=101", "page_size=abc", "page=x"] {
        let reply = page(bad).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "UNPROCESSABLE_ENTITY"),
            "{bad}"
        );
    }

    // Everything fits: no Link.
    let emu = start(Profile::Harbor28).await;
    let reply = Api::new(&emu).call(Admin, Method::GET, PROJECTS).await;
    assert!(reply.headers.get("link").is_none());
}

#[tokio::test]
async fn delete_rules_soft_delete_and_name_reuse() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    api.create_project("full", false).await;
    emu.push_image("full", "team/app", "v1");
    let delete =
        |name: &str| api.call_by_name(Admin, Method::DELETE, &format!("{PROJECTS}/{name}"));
    let deletable = || api.call_by_name(Admin, Method::GET, "/api/v2.0/projects/full/_deletable");
    let reply = delete("full").await;
    assert_eq!((reply.status, reply.code()), (412, "PRECONDITION"));
    assert_eq!(
        reply.message(),
        "precondition failed: the project contains repositories, can not be deleted"
    );

    let reply = deletable().await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.get("deletable").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "the project contains repositories, can not be deleted"
    );

    // Deleting the last artifact keeps the (empty) repository, which still blocks.
    assert!(emu.delete_artifact("full", "team/app", "v1"));
    assert_eq!(emu.repositories("full"), ["full/team/app"]);
    assert_eq!(delete("full").await.status, 412);

    let repo = "/api/v2.0/projects/full/repositories/team%252Fapp";
    assert_eq!(api.status(Admin, Method::DELETE, repo).await, 200);
    assert_eq!(
        deletable().await.body,
        json!({"deletable": true, "message": ""})
    );

    let old_id = emu.project("full").unwrap().id;
    let reply = delete("full").await;
    assert_eq!((reply.status, reply.body), (200, Value::Null));
    assert!(emu.project("full").is_none());
    assert!(!emu.project_names().contains(&"full".to_owned()));
    assert_eq!(delete("full").await.status, 404);
    assert_eq!(
        api.status(Admin, Method::GET, &format!("{PROJECTS}/{old_id}"))
            .await,
        404,
        "soft-deleted projects are invisible"
    );
    let head = "/api/v2.0/projects?project_name=full";
    assert_eq!(api.status(Admin, Method::HEAD, head).await, 404);

    api.create_project("full", false).await;
    assert_ne!(
        emu.project("full").unwrap().id,
        old_id,
        "the name is reused with a new id"
    );
}

#[tokio::test]
async fn update_upserts_metadata_without_validation() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.create_project("p", false);
    let metadata = json!({"metadata": {"public": "maybe", "auto_scan": "true"}});
    let reply = api
        .send_json(Admin, Method::PUT, "/api/v2.0/projects/p", &metadata)
        .await;
    assert_eq!((reply.status, reply.body), (200, Value::Null));
    let meta = emu.project("p").unwrap().metadata;
    assert_eq!(
        (meta["public"].as_str(), meta["auto_scan"].as_str()),
        ("maybe", "true")
    );
    let reply = api
        .call(Admin, Method::GET, "/api/v2.0/projects/p/summary")
        .await;
    assert_eq!(
        (reply.status, reply.body["repo_count"].as_i64()),
        (200, Some(0))
    );
}

#[tokio::test]
async fn repositories_artifacts_and_double_encoding() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.create_project("proj", false);
    let digest = emu.push_image("proj", "team/app/api", "1.0");
    emu.push_image_with_digest("proj", "team/app/api", "latest", &digest);
    let chart_digest = emu.push_oci_chart("proj", "mychart", "0.1.0+build");
    let repos_path = "/api/v2.0/projects/proj/repositories";

    let reply = api.call(Admin, Method::GET, repos_path).await;
    assert_eq!(reply.status, 200);
    let mut names = pluck(&reply.body, "name");
    names.sort_unstable();
    assert_eq!(names, ["proj/mychart", "proj/team/app/api"]);
    let api_repo = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "proj/team/app/api")
        .unwrap();
    assert_eq!(api_repo["artifact_count"], 1, "two tags, one artifact");

    for encoded in ["team%252Fapp%252Fapi", "team%2Fapp%2Fapi"] {
        let path = format!("{repos_path}/{encoded}/artifacts?with_tag=true");
        let reply = api.call(Admin, Method::GET, &path).await;
        assert_eq!(reply.status, 200, "{encoded}");
        let artifact = &reply.body[0];
        assert_eq!(artifact["digest"], digest.as_str());
        assert_eq!(artifact["type"], "IMAGE");
        assert_eq!(pluck(&artifact["tags"], "name"), ["1.0", "latest"]);
        assert_eq!(artifact["tags"][0]["immutable"], false);
    }
    let raw_slash = format!("{repos_path}/team/app/api/artifacts");
    assert_eq!(
        api.status(Admin, Method::GET, &raw_slash).await,
        404,
        "a raw slash matches no route"
    );

    let charts = api
        .call(
            Admin,
            Method::GET,
            &format!("{repos_path}/mychart/artifacts"),
        )
        .await
        .body;
    assert_eq!(charts[0]["type"], "CHART");
    assert_eq!(
        charts[0]["media_type"],
        "application/vnd.cncf.helm.config.v1+json"
    );
    assert_eq!(charts[0]["tags"][0]["name"], "0.1.0_build");
    assert_eq!(charts[0]["digest"], chart_digest.as_str());
    assert!(charts[0]["extra_attrs"].is_object());

    // Deleting a tag only unlinks it.
    let artifacts = format!("{repos_path}/team%252Fapp%252Fapi/artifacts");
    let tag_path = format!("{artifacts}/{digest}/tags/latest");
    assert_eq!(api.status(Admin, Method::DELETE, &tag_path).await, 200);
    assert_eq!(emu.tags("proj", "team/app/api"), ["1.0"]);
    assert_eq!(api.status(Admin, Method::DELETE, &tag_path).await, 404);

    // Deleting by tag removes the artifact; the repository stays.
    let artifact_path = format!("{artifacts}/1.0");
    assert_eq!(api.status(Admin, Method::DELETE, &artifact_path).await, 200);
    let reply = api.call(Admin, Method::DELETE, &artifact_path).await;
    assert_eq!(
        (reply.status, reply.message()),
        (404, "artifact proj/team/app/api:1.0 not found")
    );
    assert_eq!(emu.repositories("proj").len(), 2);

    let reply = api
        .call(Admin, Method::DELETE, &format!("{repos_path}/nope"))
        .await;
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"));
    let chart_repo = format!("{repos_path}/mychart");
    assert_eq!(api.status(Admin, Method::DELETE, &chart_repo).await, 200);
    assert_eq!(emu.repositories("proj"), ["proj/team/app/api"]);
}

#[tokio::test]
async fn artifact_list_is_paginated() {
    let emu = start(Profile::Harbor28).await;
    emu.create_project("p", false);
    for i in 0..15 {
        emu.push_image("p", "app", &format!("v{i}"));
    }
    let api = Api::new(&emu);
    let reply = api
        .call(
            Admin,
            Method::GET,
            "/api/v2.0/projects/p/repositories/app/artifacts?page_size=10",
        )
        .await;
    assert_eq!(reply.header("x-total-count"), "15");
    assert_eq!(
        reply.header("link"),
        "</api/v2.0/projects/p/repositories/app/artifacts?page=2&page_size=10>; rel=\"next\""
    );
}

#[tokio::test]
async fn system_endpoints_per_profile() {
    for profile in [Profile::Harbor27, Profile::Harbor28] {
        let emu = start(profile).await;
        let api = Api::new(&emu);
        let get = |path: &str| api.call(Anonymous, Method::GET, path);
        assert_eq!(get("/api/version").await.body, json!({"version": "v2.0"}));

        let anon = get("/api/v2.0/systeminfo").await.body;
        assert_eq!(anon["harbor_version"], profile.harbor_version());
        assert!(anon.get("with_chartmuseum").is_none());
        let info = api
            .call(Admin, Method::GET, "/api/v2.0/systeminfo")
            .await
            .body;
        let expected = (profile == Profile::Harbor27).then_some(true);
        assert_eq!(info["with_chartmuseum"].as_bool(), expected, "{profile:?}");

        let reply = get("/api/v2.0/ping").await;
        assert_eq!(reply.header("content-type"), "text/plain");
        assert_eq!(reply.text, "Pong");
        let reply = api
            .get("/api/v2.0/ping")
            .header("accept", "application/json")
            .reply()
            .await;
        assert_eq!(reply.status, 422);

        let health = get("/api/v2.0/health").await;
        assert_eq!(
            (health.status, health.body["status"].as_str()),
            (200, Some("healthy"))
        );
        let has_chartmuseum = health.body["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "chartmuseum");
        assert_eq!(has_chartmuseum, profile == Profile::Harbor27);
    }
}

#[tokio::test]
async fn unknown_routes_are_harbor_404s() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    for (method, path, want) in [
        (Method::GET, "/api/v2.0/nothing/here", (404, "NOT_FOUND")),
        (Method::PATCH, PROJECTS, (405, "METHOD_NOT_ALLOWED")),
    ] {
        let reply = api.call(Admin, method.clone(), path).await;
        assert_eq!((reply.status, reply.code()), want, "{method} {path}");
    }
}

#[tokio::test]
async fn call_log_records_raw_paths_routes_and_headers() {
    let emu = start(Profile::Harbor28).await;
    let api = Api::new(&emu);
    emu.create_project("p", false);
    emu.clear_calls();
    let raw = "/api/v2.0/projects/p/repositories/a%252Fb?x=1";
    api.call_by_name(Admin, Method::DELETE, raw).await;
    api.get("/nowhere").reply().await;
    let calls = emu.calls();
    assert_eq!(calls.len(), 2);
    let call = &calls[0];
    assert_eq!(call.method, Method::DELETE);
    assert_eq!(call.raw_path, "/api/v2.0/projects/p/repositories/a%252Fb");
    assert_eq!(call.query.as_deref(), Some("x=1"));
    assert_eq!(call.status, Some(404));
    assert_eq!(
        call.route.as_deref(),
        Some("/api/v2.0/projects/{project_name}/repositories/{repository_name}")
    );
    assert_eq!(call.x_is_resource_name.as_deref(), Some("true"));
    assert_eq!(call.username.as_deref(), Some("admin"));
    assert!(!call.had_cookie);
    assert!(call.fault.is_none());
    assert_eq!(calls[1].route, None);
    emu.clear_calls();
    assert!(emu.calls().is_empty());
}
